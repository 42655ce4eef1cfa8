// The files configuration is read from: named paths expanded to files and read, or text given
// directly (standard input, a test).

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
                guard let data = FileManager.default.contents(atPath: file) else {
                    problems.append("\(file): cannot read file")
                    continue
                }
                inputs.append(ConfigInput(file: file, data: data))
            }
        }
        return (inputs, problems)
    }

    private static func configFiles(below directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
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
