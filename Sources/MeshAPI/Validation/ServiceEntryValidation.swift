// ServiceEntry, WorkloadEntry and WorkloadGroup rules: hosts, addresses, ports, resolution, endpoints.

extension ValidationContext {
    mutating func validate(_ entry: ServiceEntry) {
        if let selector = entry.workloadSelector {
            selectorLabels(spec / "workloadSelector" / "labels", selector.labels ?? [:])
            if entry.endpoints != nil {
                error(spec / "workloadSelector", "\"workloadSelector\" and \"endpoints\" are mutually exclusive")
            }
        }
        let hosts = entry.hosts ?? []
        if hosts.isEmpty { error(spec / "hosts", "a ServiceEntry needs at least one host") }
        for (index, host) in hosts.enumerated() {
            if host == "*" {
                error(spec / "hosts" / index, "host \"*\" is not allowed in a ServiceEntry")
            } else if let problem = HostNames.validateWildcardDomain(host) {
                error(spec / "hosts" / index, problem)
            } else if HostNames.partialWildcardProblem(host) != nil {
                // Istio accepts it here, with this warning; Gateways and Sidecars reject it.
                warning(spec / "hosts" / index, "partial wildcard \"\(host)\" is not supported by Istio's host matching; use \"*\" or a leading \"*.\" label")
            }
        }
        let resolution = entry.resolution ?? .NONE
        for (index, address) in (entry.addresses ?? []).enumerated() {
            check(spec / "addresses" / index, IPAddress.validateAddressOrCIDR(address))
            if address.contains("/") && resolution != .NONE && resolution != .STATIC {
                error(spec / "addresses" / index, "CIDR addresses are only allowed with resolution NONE or STATIC")
            }
        }
        let ports = entry.ports ?? []
        // Istio accepts a ServiceEntry without ports, but nothing then listens for it.
        if ports.isEmpty { warning(spec / "ports", "a ServiceEntry without ports gets no listeners or clusters; traffic to it is not handled") }
        var names: Set<String> = []
        var numbers: Set<UInt32> = []
        for (index, port) in ports.enumerated() {
            let path = spec / "ports" / index
            if let name = port.name, !name.isEmpty {
                if !HostNames.isDNS1123Label(name) { error(path / "name", "port name \"\(name.truncatedForDisplay)\" must be a DNS-1123 label") }
                if !names.insert(name).inserted { error(path / "name", "port name \"\(name)\" is already defined") }
            } else {
                error(path / "name", "port name is required")
            }
            if let number = port.number {
                check(path / "number", PortRule.problem(number))
                if !numbers.insert(number).inserted { error(path / "number", "port \(number) is already defined") }
            } else {
                error(path / "number", "port number is required")
            }
            if let protocolName = port.protocolName, !protocolName.isEmpty { check(path / "protocol", ProtocolName.problem(protocolName)) }
            if let target = port.targetPort, target != 0 { check(path / "targetPort", PortRule.problem(target)) }
        }
        let endpoints = entry.endpoints ?? []
        switch resolution {
        case .NONE:
            if !endpoints.isEmpty { error(spec / "endpoints", "resolution NONE cannot have endpoints") }
            if entry.workloadSelector != nil { warning(spec / "workloadSelector", "workloadSelector has no effect with resolution NONE") }
        case .STATIC:
            for (index, endpoint) in endpoints.enumerated() {
                workloadEntry(spec / "endpoints" / index, endpoint, allowHostName: false, servicePorts: ports)
            }
        case .DNS, .DNS_ROUND_ROBIN, .DYNAMIC_DNS:
            if endpoints.isEmpty {
                for (index, host) in hosts.enumerated() where host != "*" && HostNames.validateFQDN(host) != nil && HostNames.validateWildcardDomain(host) == nil {
                    if resolution != .DYNAMIC_DNS {
                        error(spec / "hosts" / index, "with resolution \(resolution.rawValue) and no endpoints, hosts must be resolvable names (no wildcards)")
                    }
                }
            }
            if resolution == .DNS_ROUND_ROBIN && endpoints.count > 1 {
                error(spec / "endpoints", "resolution DNS_ROUND_ROBIN allows at most one endpoint")
            }
            for (index, endpoint) in endpoints.enumerated() {
                workloadEntry(spec / "endpoints" / index, endpoint, allowHostName: true, servicePorts: ports)
            }
            if entry.workloadSelector != nil {
                warning(spec / "workloadSelector", "workloadSelector has no effect with resolution \(resolution.rawValue)")
            }
        }
        if resolution != .NONE && hosts.count > 1,
           let index = ports.firstIndex(where: { !ProtocolName.isHTTP($0.protocolName) && !ProtocolName.isTLS($0.protocolName) }) {
            error(spec / "ports" / index / "protocol", "a ServiceEntry with several hosts needs HTTP or TLS ports to tell the hosts apart (found \(ports[index].protocolName ?? "no protocol"))")
        }
        exportTo(entry.exportTo, allowNone: true)
    }

    /// A WorkloadEntry, standalone (`path` = spec) or as a ServiceEntry endpoint.
    mutating func workloadEntry(_ path: FieldPath, _ entry: WorkloadEntry, allowHostName: Bool, servicePorts: [ServicePort]?,
                                isTemplate: Bool = false) {
        let address = entry.address ?? ""
        if address.isEmpty {
            if (entry.network ?? "").isEmpty && !isTemplate {
                error(path / "address", "address is required (or a network for a workload behind a gateway)")
            }
        } else if address.hasPrefix("unix://") {
            check(path / "address", UnixAddressRule.problem(address))
            if !(entry.ports ?? [:]).isEmpty { error(path / "ports", "a unix socket endpoint cannot have ports") }
            if let servicePorts, servicePorts.count != 1 { error(path / "address", "a unix socket endpoint needs a ServiceEntry with exactly one port") }
        } else if IPAddress.parse(address) == nil {
            if !allowHostName {
                error(path / "address", "endpoint address \"\(address.truncatedForDisplay)\" is not an IP address (resolution STATIC needs IPs)")
            } else if HostNames.validateFQDN(address) != nil {
                error(path / "address", "address \"\(address.truncatedForDisplay)\" is neither an IP address nor a host name")
            }
        }
        let names = Set((servicePorts ?? []).compactMap(\.name))
        for (name, number) in (entry.ports ?? [:]).sorted(by: { $0.key < $1.key }) {
            if !HostNames.isDNS1123Label(name) { error(path / "ports" / name, "port name \"\(name.truncatedForDisplay)\" must be a DNS-1123 label") }
            if servicePorts != nil && !names.contains(name) {
                error(path / "ports" / name, "port \"\(name)\" is not a port name of this ServiceEntry (\(names.sorted().joined(separator: ", ")))")
            }
            check(path / "ports" / name, PortRule.problem(number))
        }
        labels(path / "labels", entry.labels)
        if let account = entry.serviceAccount, !account.isEmpty, !HostNames.isDNS1123Subdomain(account) {
            error(path / "serviceAccount", "serviceAccount \"\(account.truncatedForDisplay)\" is not a valid Kubernetes name")
        }
        if let locality = entry.locality, !locality.isEmpty, locality.split(separator: "/", omittingEmptySubsequences: false).count > 3 {
            error(path / "locality", "locality \"\(locality)\" must be region[/zone[/subzone]]")
        }
    }

    mutating func validate(_ group: WorkloadGroup) {
        if let template = group.template {
            if let address = template.address, !address.isEmpty {
                warning(spec / "template" / "address", "the template's address is ignored; each workload registers its own")
            }
            var addressless = template
            addressless.address = nil
            workloadEntry(spec / "template", addressless, allowHostName: true, servicePorts: nil, isTemplate: true)
        } else {
            error(spec / "template", "template is required")
        }
        labels(spec / "metadata" / "labels", group.metadata?.labels)
        guard let probe = group.probe else { return }
        let base = spec / "probe"
        for (field, value) in [("initialDelaySeconds", probe.initialDelaySeconds), ("timeoutSeconds", probe.timeoutSeconds),
                               ("periodSeconds", probe.periodSeconds), ("successThreshold", probe.successThreshold),
                               ("failureThreshold", probe.failureThreshold)] {
            if let value, value < 0 { error(base / field, "\(field) must not be negative") }
        }
        let methods = [("httpGet", probe.httpGet != nil), ("tcpSocket", probe.tcpSocket != nil), ("exec", probe.exec != nil), ("grpc", probe.grpc != nil)]
        if !methods.contains(where: \.1) { error(base, "a probe needs one of httpGet, tcpSocket, exec or grpc") }
        exclusive(base, methods)
        if let http = probe.httpGet {
            check(base / "httpGet" / "port", PortRule.problem(http.port))
            if let scheme = http.scheme, !["", "HTTP", "HTTPS"].contains(scheme) {
                error(base / "httpGet" / "scheme", "scheme must be HTTP or HTTPS")
            }
            for (index, header) in (http.httpHeaders ?? []).enumerated() {
                check(base / "httpGet" / "httpHeaders" / index / "name", HeaderRule.nameProblem(header.name ?? ""))
            }
        }
        if let tcp = probe.tcpSocket { check(base / "tcpSocket" / "port", PortRule.problem(tcp.port)) }
        if let exec = probe.exec, (exec.command ?? []).isEmpty { error(base / "exec" / "command", "exec needs a command") }
        if let grpc = probe.grpc { check(base / "grpc" / "port", PortRule.problem(grpc.port)) }
    }
}
