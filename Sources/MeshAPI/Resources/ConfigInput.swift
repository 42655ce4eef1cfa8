// The files configuration is read from: paths expanded to regular files, or text given directly.

import Foundation

/// One file's bytes, named by the file they came from.
public struct ConfigInput: Sendable {
    public var file: String
    public var data: Data

    public init(file: String, data: Data) {
        self.file = file
        self.data = data
    }

    /// File name endings read when a directory is given.
    public static let configExtensions: Set<String> = ["yaml", "yml", "json"]
    /// Larger files are refused: no configuration is this big, and reading one costs memory.
    public static let maximumFileSize = 64 << 20

    /// Reads files and directories (recursively: `.yaml`, `.yml`, `.json` files in name order).
    /// Paths that do not exist, directories without config files and unreadable files are
    /// returned as problems, one line each, for the caller to report (they are not config errors).
    public static func read(paths: [String]) -> (inputs: [ConfigInput], problems: [String]) {
        var inputs: [ConfigInput] = []
        var problems: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                problems.append("\(path): no such file or directory")
                continue
            }
            let files = isDirectory.boolValue ? configFiles(below: path) : [path]
            if files.isEmpty { problems.append("\(path): no .yaml, .yml or .json files found") }
            for file in files {
                switch readFile(file) {
                case .success(let data): inputs.append(ConfigInput(file: file, data: data))
                case .failure(let problem): problems.append("\(file): \(problem.reason)")
                }
            }
        }
        return (inputs, problems)
    }

    public struct ReadFailure: Error {
        public var reason: String
    }

    /// Reads a regular file (following links) of at most `maximumFileSize` bytes; a device, a
    /// pipe or a huge file would otherwise block or exhaust memory.
    public static func readFile(_ path: String) -> Result<Data, ReadFailure> {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: resolved) else {
            return .failure(ReadFailure(reason: "cannot read file"))
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            return .failure(ReadFailure(reason: "not a regular file"))
        }
        if let size = attributes[.size] as? Int, size > maximumFileSize {
            return .failure(ReadFailure(reason: "file is larger than \(maximumFileSize >> 20) MiB"))
        }
        guard let data = FileManager.default.contents(atPath: resolved) else {
            return .failure(ReadFailure(reason: "cannot read file"))
        }
        return .success(data)
    }

    private static func configFiles(below directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            // Hidden folders (.git, .build) hold no configuration of the user's.
            if (relative as NSString).lastPathComponent.hasPrefix(".") {
                enumerator.skipDescendants()
                continue
            }
            guard configExtensions.contains((relative as NSString).pathExtension.lowercased()) else { continue }
            let full = (directory as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(full)
            }
        }
        return files.sorted()
    }
}
