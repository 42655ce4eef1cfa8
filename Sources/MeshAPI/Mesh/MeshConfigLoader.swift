// Reads and validates Istio's MeshConfig file or ConfigMap (`--mesh-config`).

import Foundation

/// Reads Istio's MeshConfig file (`--mesh-config`) and validates it.
public enum MeshConfigLoader {
    /// Decodes and validates a mesh config. A file with errors yields `nil` and the errors; an
    /// empty file yields Istio's defaults.
    public static func load(_ data: Data, file: String) -> (config: MeshConfig?, diagnostics: [Diagnostic]) {
        var (documents, diagnostics) = ConfigDocumentReader().read(data, file: file)
        // A leading or trailing `---` makes an empty document, not a second config.
        documents.removeAll { if case .scalar(_, .null, _) = $0.root { return true } else { return false } }
        if documents.count > 1 {
            diagnostics.append(Diagnostic(.error, "a mesh config file holds one document; found \(documents.count)", at: documents[1].root.location))
        }
        guard !diagnostics.contains(where: { $0.severity == .error }) else { return (nil, diagnostics) }
        guard var node = documents.first?.root else { return (MeshConfig(), diagnostics) }
        if node["kind"]?.stringValue == "ConfigMap" {
            let (settings, problems) = embeddedSettings(node, data: data, file: file)
            diagnostics += problems
            guard let settings, !problems.contains(where: { $0.severity == .error }) else { return (nil, diagnostics) }
            node = settings
        }
        if case .scalar(_, .null, _) = node { return (MeshConfig(), diagnostics) }
        let reference = ResourceReference(kind: "MeshConfig", namespace: "", name: (file as NSString).lastPathComponent)
        let (config, problems) = ConfigNodeDecoder().decode(MeshConfig.self, from: node)
        diagnostics += problems.map { Diagnostic(.error, $0.message, at: $0.location, resource: reference, path: $0.path) }
        if let config {
            diagnostics += validate(config).map { problem in
                Diagnostic(problem.severity, problem.message, at: node.location(of: problem.path), resource: reference, path: problem.path)
            }
        }
        let hasErrors = diagnostics.contains { $0.severity == .error }
        return (hasErrors ? nil : config, diagnostics)
    }

    /// Istio on Kubernetes keeps MeshConfig as YAML text under `data.mesh` of the `istio`
    /// ConfigMap; `kubectl get configmap istio -o yaml` output is read as it is. Positions inside
    /// a literal block (`mesh: |`) are mapped back to the file's lines and columns.
    private static func embeddedSettings(_ configMap: ConfigNode, data: Data, file: String) -> (ConfigNode?, [Diagnostic]) {
        let path = FieldPath.root / "data" / "mesh"
        guard let mesh = configMap.node(at: path) else {
            return (nil, [Diagnostic(.error, "a ConfigMap mesh config keeps its settings under data.mesh, as Istio's istio ConfigMap does",
                                     at: configMap.location(of: path), path: path)])
        }
        guard case .scalar(let text, .string, let start) = mesh else {
            return (nil, [Diagnostic(.error, "data.mesh must be YAML text, found \(mesh.describedForError)", at: mesh.location, path: path)])
        }
        // Lines split on LF bytes: as Characters, a CRLF pair would not match "\n".
        let lines = [UInt8](data).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let header = lines.indices.contains(start.line - 1) ? lines[start.line - 1].dropFirst(start.column - 1) : []
        let isBlank: (ArraySlice<UInt8>) -> Bool = { $0.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") } }
        var shift: (lines: Int, columns: Int)?
        if header.first == UInt8(ascii: "|") {
            // A literal block starts on the next line. Its indentation is given by a digit in the
            // header (`|2`, relative to the key's line) or else by its first line.
            if let digit = header.dropFirst().first(where: { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: "+") }),
               digit >= UInt8(ascii: "1"), digit <= UInt8(ascii: "9") {
                let keyIndent = lines[start.line - 1].prefix { $0 == UInt8(ascii: " ") }.count
                shift = (start.line, keyIndent + Int(digit - UInt8(ascii: "0")))
            } else {
                shift = (start.line, lines.dropFirst(start.line).first { !isBlank($0) }.map { $0.prefix { $0 == UInt8(ascii: " ") }.count } ?? 0)
            }
        }
        func place(_ location: SourceLocation) -> SourceLocation {
            guard let shift else { return start }  // quoted or folded text: point at the value
            return SourceLocation(file: file, line: location.line + shift.lines, column: location.column + shift.columns)
        }
        let (documents, problems) = ConfigDocumentReader().read(text, file: file)
        let placed = problems.map { problem in
            var moved = problem
            moved.location = problem.location.map(place)
            return moved
        }
        return (documents.first?.root.relocated(place) ?? .scalar("", .null, start), placed)
    }

    /// Reads and validates the mesh config file at `path`.
    public static func load(path: String) -> Result<(config: MeshConfig?, diagnostics: [Diagnostic]), ConfigInput.ReadFailure> {
        ConfigInput.readFile(path).map { load($0, file: path) }
    }

    struct Problem {
        var severity: Severity
        var path: FieldPath
        var message: String
    }

    static func validate(_ config: MeshConfig) -> [Problem] {
        var problems: [Problem] = []
        func error(_ path: FieldPath, _ message: String) { problems.append(Problem(severity: .error, path: path, message: message)) }
        let root = FieldPath.root
        if let namespace = config.rootNamespace, !HostNames.isKubernetesLabel(namespace) {
            error(root / "rootNamespace", "rootNamespace \"\(namespace.truncatedForDisplay)\" must be a lower-case DNS-1123 label")
        }
        for (path, domain) in [(root / "trustDomain", config.trustDomain)] + (config.trustDomainAliases ?? []).enumerated().map({ (root / "trustDomainAliases" / $0.offset, $0.element) }) {
            guard let domain else { continue }
            if domain.isEmpty || domain.contains("/") || domain.contains(":") || HostNames.validateFQDN(domain.replacingOccurrences(of: "_", with: "-")) != nil {
                error(path, "trust domain \"\(domain.truncatedForDisplay)\" must be a DNS name such as cluster.local")
            }
        }
        if let timeout = config.connectTimeout {
            if let problem = DurationRule.problem(timeout) { error(root / "connectTimeout", problem) }
            else if timeout.nanoseconds > 3_600_000_000_000 { error(root / "connectTimeout", "connectTimeout must be at most 1h") }
        }
        if let timeout = config.protocolDetectionTimeout, let problem = DurationRule.problem(timeout, allowZero: true) {
            error(root / "protocolDetectionTimeout", problem)
        }
        if config.accessLogEncoding == .JSON, let format = config.accessLogFormat, !format.isEmpty, config.accessLogJSONLabels == nil {
            error(root / "accessLogFormat", "with accessLogEncoding JSON, accessLogFormat must be a JSON object of labels, e.g. {\"code\": \"%RESPONSE_CODE%\"}")
        }
        var names: Set<String> = []
        for (index, provider) in (config.extensionProviders ?? []).enumerated() {
            let path = root / "extensionProviders" / index
            if let name = provider.name, !name.isEmpty {
                if !names.insert(name).inserted { error(path / "name", "extension provider \"\(name)\" is defined twice") }
            } else {
                error(path / "name", "extension providers need a name")
            }
            let kinds = provider.kindsSet
            if kinds.isEmpty { error(path, "an extension provider must set one provider kind (e.g. zipkin, opentelemetry, envoyFileAccessLog)") }
            if kinds.count > 1 { error(path / kinds[1], "an extension provider sets one kind; found \(kinds.joined(separator: " and "))") }
            let endpoints: [(String, String?, UInt32?)] = [
                ("envoyExtAuthzHttp", provider.envoyExtAuthzHttp?.service, provider.envoyExtAuthzHttp?.port),
                ("envoyExtAuthzGrpc", provider.envoyExtAuthzGrpc?.service, provider.envoyExtAuthzGrpc?.port),
                ("zipkin", provider.zipkin?.service, provider.zipkin?.port),
                ("opentelemetry", provider.opentelemetry?.service, provider.opentelemetry?.port),
                ("datadog", provider.datadog?.service, provider.datadog?.port),
                ("skywalking", provider.skywalking?.service, provider.skywalking?.port),
                ("lightstep", provider.lightstep?.service, provider.lightstep?.port),
                ("envoyHttpAls", provider.envoyHttpAls?.service, provider.envoyHttpAls?.port),
                ("envoyTcpAls", provider.envoyTcpAls?.service, provider.envoyTcpAls?.port),
                ("envoyOtelAls", provider.envoyOtelAls?.service, provider.envoyOtelAls?.port),
                ("sds", provider.sds?.service, provider.sds?.port),
            ]
            for (kind, service, port) in endpoints where kinds.contains(kind) {
                let servicePath = path / kind
                if let service, !service.isEmpty {
                    let host = service.split(separator: "/", maxSplits: 1).last.map(String.init) ?? service
                    if HostNames.validateFQDN(host) != nil && IPAddress.parse(host) == nil {
                        error(servicePath / "service", "service \"\(service.truncatedForDisplay)\" must be [namespace/]hostname")
                    }
                } else {
                    error(servicePath / "service", "\(kind) needs a service")
                }
                if let problem = PortRule.problem(port) { error(servicePath / "port", problem) }
            }
        }
        let known = names
        for (field, list) in [("tracing", config.defaultProviders?.tracing), ("metrics", config.defaultProviders?.metrics),
                              ("accessLogging", config.defaultProviders?.accessLogging)] {
            for (index, name) in (list ?? []).enumerated() where !known.contains(name) && !(field == "metrics" && name == "prometheus") && !(field == "accessLogging" && name == "envoy") {
                error(root / "defaultProviders" / field / index, "default provider \"\(name)\" is not defined in extensionProviders")
            }
        }
        if let concurrency = config.defaultConfig?.concurrency, concurrency < 0 {
            error(root / "defaultConfig" / "concurrency", "concurrency must not be negative")
        }
        for (field, list) in [("defaultServiceExportTo", config.defaultServiceExportTo), ("defaultVirtualServiceExportTo", config.defaultVirtualServiceExportTo),
                              ("defaultDestinationRuleExportTo", config.defaultDestinationRuleExportTo)] {
            for (index, problem) in ExportToRule.problems(list ?? [], namespace: config.effectiveRootNamespace, allowNone: field == "defaultServiceExportTo") {
                error(root / field / index, problem)
            }
        }
        return problems
    }
}
