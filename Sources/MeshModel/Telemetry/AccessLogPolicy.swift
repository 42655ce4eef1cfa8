// Which access logs a workload's proxy writes, by the Telemetry API's precedence and the mesh config.

import MeshAPI

/// One access log a proxy writes: a file, its format and an optional filter.
public struct AccessLogSetting: Hashable, Sendable {
    public enum Format: Hashable, Sendable {
        /// A format string; nil means Istio's default text format.
        case text(String?)
        /// JSON labels; nil means Istio's default JSON labels.
        case json([String: ConfigValue]?)
    }

    /// The extension provider's name (`envoy` for the built-in one, `mesh` for `accessLogFile`).
    public var provider: String
    public var path: String
    public var format: Format
    public var omitEmptyValues: Bool
    public var filter: AccessLogCondition?

    public init(provider: String, path: String, format: Format, omitEmptyValues: Bool, filter: AccessLogCondition? = nil) {
        self.provider = provider
        self.path = path
        self.format = format
        self.omitEmptyValues = omitEmptyValues
        self.filter = filter
    }
}

extension MeshSnapshot {
    /// The Telemetry resources that apply to a workload, least specific first, the order Istio
    /// merges them in: the mesh's (root namespace, no selector), its namespace's (no selector),
    /// and the one whose selector its labels match. Resources with `targetRef(s)` configure
    /// gateways by reference, which SwiftMesh does not resolve yet.
    public func telemetryLevels(namespace: String, labels: [String: String], where include: (Telemetry) -> Bool = { _ in true }) -> [Telemetry] {
        let telemetries = resources(of: .telemetry).compactMap { resource -> (MeshResource, Telemetry)? in
            guard case .telemetry(let spec) = resource.spec, spec.targetRef == nil, (spec.targetRefs ?? []).isEmpty, include(spec) else { return nil }
            return (resource, spec)
        }
        let root = meshConfig.effectiveRootNamespace
        return [
            telemetries.first { $0.0.namespace == root && ($0.1.selector?.matchLabels ?? [:]).isEmpty },
            namespace == root ? nil : telemetries.first { $0.0.namespace == namespace && ($0.1.selector?.matchLabels ?? [:]).isEmpty },
            telemetries.first { resource, spec in
                guard resource.namespace == namespace, let selector = spec.selector?.matchLabels, !selector.isEmpty else { return false }
                return selector.allSatisfy { labels[$0.key] == $0.value }
            },
        ].compactMap { $0?.1 }
    }

    /// The access logs of a workload's proxy on the client side (outbound and gateway listeners)
    /// or the server side (inbound listeners), as Istio merges Telemetry resources: the mesh's
    /// (root namespace, no selector), then the namespace's (no selector), then the workload's
    /// (selector matching its labels). The providers a level's `accessLogging` entries for this
    /// side name replace those in force; each entry's `disabled` and `filter` apply to the
    /// providers it names (to all in force when it names none). Without any Telemetry access logging, the mesh config's default
    /// providers apply, and `accessLogFile` (Istio's older switch) adds its file.
    public func accessLogs(namespace: String, labels: [String: String], clientSide: Bool) -> [AccessLogSetting] {
        let levels = telemetryLevels(namespace: namespace, labels: labels)
        let applies = { (entry: Telemetry.AccessLogging) -> Bool in
            switch entry.match?.mode ?? .CLIENT_AND_SERVER {
            case .CLIENT_AND_SERVER: true
            case .CLIENT: clientSide
            case .SERVER: !clientSide
            }
        }
        let entriesByLevel = levels.map { ($0.accessLogging ?? []).filter(applies) }.filter { !$0.isEmpty }
        let defaults = meshConfig.defaultProviders?.accessLogging ?? []
        guard !entriesByLevel.isEmpty else {
            var settings = defaults.compactMap(setting)
            if let file = meshConfig.accessLogFile, !file.isEmpty { settings.append(meshFileSetting(provider: "mesh", path: file)) }
            return settings
        }
        var inForce = defaults
        var disabled: [String: Bool] = [:]
        var filters: [String: AccessLogCondition] = [:]
        for entries in entriesByLevel {
            // The providers one level names (in any of its entries) replace those in force.
            let named = entries.flatMap { ($0.providers ?? []).compactMap(\.name) }.filter { !$0.isEmpty }
            if !named.isEmpty { inForce = named }
            if inForce.isEmpty { inForce = ["envoy"] }  // Istio's built-in provider when nothing else is named
            for entry in entries {
                let own = (entry.providers ?? []).compactMap(\.name).filter { !$0.isEmpty }
                for provider in own.isEmpty ? inForce : own {
                    if let off = entry.disabled { disabled[provider] = off }
                    if let expression = entry.filter?.expression, case .success(let condition) = AccessLogCondition.parse(expression) {
                        filters[provider] = condition
                    }
                }
            }
        }
        var seen: Set<String> = []
        return inForce.filter { disabled[$0] != true && seen.insert($0).inserted }.compactMap { provider in
            guard var setting = setting(provider) else { return nil }
            setting.filter = filters[provider]
            return setting
        }
    }

    /// A provider's file log: an `envoyFileAccessLog` extension provider, or the built-in
    /// `envoy` (stdout, formatted by the mesh config). nil for other kinds (they write no file).
    private func setting(_ provider: String) -> AccessLogSetting? {
        if let defined = meshConfig.extensionProviders?.first(where: { $0.name == provider }) {
            guard let file = defined.envoyFileAccessLog else { return nil }
            let path = (file.path ?? "").isEmpty ? "/dev/stdout" : file.path!
            if provider == "envoy", file.logFormat == nil, file.omitEmptyValues != true { return meshFileSetting(provider: provider, path: path) }
            let format: AccessLogSetting.Format
            if let labels = file.logFormat?.labels {
                format = .json(labels.isEmpty ? nil : labels)
            } else {
                format = .text(file.logFormat?.text.flatMap { $0.isEmpty ? nil : $0 })
            }
            return AccessLogSetting(provider: provider, path: path, format: format, omitEmptyValues: file.omitEmptyValues ?? false)
        }
        guard provider == "envoy" else { return nil }
        return meshFileSetting(provider: provider, path: "/dev/stdout")
    }

    /// A file formatted by the mesh config's `accessLogFormat` and `accessLogEncoding`.
    private func meshFileSetting(provider: String, path: String) -> AccessLogSetting {
        let format: AccessLogSetting.Format = meshConfig.accessLogEncoding == .JSON
            ? .json(meshConfig.accessLogJSONLabels)
            : .text(meshConfig.accessLogFormat.flatMap { $0.isEmpty ? nil : $0 })
        return AccessLogSetting(provider: provider, path: path, format: format, omitEmptyValues: false)
    }
}
