// Telemetry rules: providers, metric overrides, tracing sampling and custom tags, access logs.

import Foundation

extension ValidationContext {
    mutating func validate(_ telemetry: Telemetry) {
        policyTarget(selector: telemetry.selector, targetRef: telemetry.targetRef, targetRefs: telemetry.targetRefs)
        for (index, metrics) in (telemetry.metrics ?? []).enumerated() {
            let path = spec / "metrics" / index
            providers(path / "providers", metrics.providers)
            duration(path / "reportingInterval", metrics.reportingInterval)
            for (overrideIndex, override) in (metrics.overrides ?? []).enumerated() {
                let base = path / "overrides" / overrideIndex
                if let custom = override.match?.customMetric, custom.isEmpty { error(base / "match" / "customMetric", "customMetric must not be empty") }
                if override.match?.metric != nil && override.match?.customMetric != nil {
                    error(base / "match" / "customMetric", "\"metric\" and \"customMetric\" are mutually exclusive")
                }
                for (name, tag) in (override.tagOverrides ?? [:]).sorted(by: { $0.key < $1.key }) {
                    if name.isEmpty { warning(base / "tagOverrides", "tag overrides need a tag name") }
                    let operation = tag.operation ?? .UPSERT
                    if operation == .UPSERT && (tag.value ?? "").isEmpty {
                        error(base / "tagOverrides" / name / "value", "UPSERT needs a value (an expression such as request.host)")
                    }
                    if operation == .REMOVE && tag.value != nil {
                        error(base / "tagOverrides" / name / "value", "REMOVE takes no value")
                    }
                    // Istio accepts any CEL here; meshproxy evaluates a subset and refuses the
                    // listeners that carry another expression (they keep their last config).
                    if operation == .UPSERT, let value = tag.value, !value.isEmpty, !MetricTagExpression.isSupported(value) {
                        warning(base / "tagOverrides" / name / "value",
                                "meshproxy cannot evaluate \"\(value.truncatedForDisplay)\" and will refuse the listeners it reaches, which keep "
                                + "their last config (Envoy sidecars ignore metric overrides); meshproxy evaluates \(MetricTagExpression.supportedForms)")
                    }
                }
            }
        }
        if (telemetry.tracing ?? []).count > 1 { warning(spec / "tracing", "only the first tracing entry is used") }
        for (index, tracing) in (telemetry.tracing ?? []).enumerated() {
            let path = spec / "tracing" / index
            providers(path / "providers", tracing.providers)
            if (tracing.providers ?? []).count > 1 { warning(path / "providers", "only one tracing provider is supported; the first is used") }
            if let percentage = tracing.randomSamplingPercentage, !(0...100).contains(percentage) {
                error(path / "randomSamplingPercentage", "randomSamplingPercentage \(percentage.shownInMessage) must be between 0 and 100")
            }
            for (name, tag) in (tracing.customTags ?? [:]).sorted(by: { $0.key < $1.key }) {
                let base = path / "customTags" / name
                if name.isEmpty { error(path / "customTags", "custom tag names must not be empty") }
                let kinds = [("literal", tag.literal != nil), ("environment", tag.environment != nil), ("header", tag.header != nil)]
                if !kinds.contains(where: \.1) { error(base, "a custom tag needs literal, environment or header") }
                exclusive(base, kinds)
                if let literal = tag.literal, (literal.value ?? "").isEmpty { error(base / "literal" / "value", "literal tag value must not be empty") }
                if let environment = tag.environment, (environment.name ?? "").isEmpty { error(base / "environment" / "name", "environment tag needs a variable name") }
                if let header = tag.header, (header.name ?? "").isEmpty { error(base / "header" / "name", "header tag needs a header name") }
            }
        }
        for (index, logging) in (telemetry.accessLogging ?? []).enumerated() {
            let path = spec / "accessLogging" / index
            providers(path / "providers", logging.providers)
            if let expression = logging.filter?.expression {
                if let problem = AccessLogFilterSyntax.problem(expression) {
                    error(path / "filter" / "expression", problem)
                } else if case .failure(let why) = AccessLogCondition.parse(expression) {
                    error(path / "filter" / "expression", "filter expression \"\(expression.truncatedForDisplay)\": \(why); "
                          + "SwiftMesh translates \(AccessLogCondition.supportedForms)")
                }
            }
        }
    }

    private mutating func providers(_ path: FieldPath, _ providers: [Telemetry.ProviderRef]?) {
        for (index, provider) in (providers ?? []).enumerated() where (provider.name ?? "").isEmpty {
            error(path / index / "name", "provider name must not be empty")
        }
    }
}
