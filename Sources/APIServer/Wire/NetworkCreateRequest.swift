import Platform

/// moby's `network.CreateRequest` (`POST /networks/create`), decoded and checked as moby checks
/// it for the bridge driver (docs/networking.md): one IPv4 pool and one IPv6 pool at most.
struct NetworkCreateRequest {
    struct IPAMConfig {
        var subnet: String
        var ipRange: String
        var gateway: String
        var auxAddresses: [String: String]
    }

    /// One IPv4 pool, parsed (after `validate`).
    struct IPv4Config {
        var subnet: IPv4Subnet
        var ipRange: IPv4Subnet?
        var gateway: UInt32?
    }

    var name: String
    var driver: String
    var ipamDriver: String
    /// `IPAM.Options`; nil when absent or null (inspect then shows null, as moby).
    var ipamOptions: [String: String]? = nil
    var ipamConfigs: [IPAMConfig]
    var isInternal: Bool
    var isAttachable: Bool
    var isIngress: Bool
    var enableIPv6: Bool?
    var labels: [String: String]
    var options: [String: String]

    /// The option moby reads as EnableIPv6 when the field is absent.
    static let enableIPv6Option = "com.docker.network.enable_ipv6"
    static let mtuOption = "com.docker.network.driver.mtu"

    static func decode(_ body: [UInt8]) throws -> NetworkCreateRequest {
        let json: JSON
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        let d = GoDecoder(root: "CreateRequest")
        guard case .object = json else {
            throw EngineError(.invalidArgument, "invalid JSON: json: cannot unmarshal into Go value of type network.CreateRequest")
        }
        let f = try d.object(json, "CreateRequest")
        var configs: [IPAMConfig] = []
        var ipamDriver = ""
        var ipamOptions: [String: String]?
        if let ipam = f["ipam"] {
            let i = try d.object(ipam, "IPAM")
            ipamDriver = try d.string(i, "Driver", "IPAM")
            if let options = i["options"], options != .null { ipamOptions = try d.stringMap(i, "Options", "IPAM") }
            if let list = i["config"] {
                guard case .array(let items) = list else { throw d.fail(list, "IPAM.Config", "[]network.IPAMConfig") }
                for item in items {
                    let c = try d.object(item, "IPAM.Config")
                    configs.append(IPAMConfig(subnet: try d.string(c, "Subnet", "IPAM.Config"),
                                              ipRange: try d.string(c, "IPRange", "IPAM.Config"),
                                              gateway: try d.string(c, "Gateway", "IPAM.Config"),
                                              auxAddresses: try d.stringMap(c, "AuxiliaryAddresses", "IPAM.Config")))
                }
            }
        }
        return NetworkCreateRequest(name: try d.string(f, "Name", ""), driver: try d.string(f, "Driver", ""),
                                    ipamDriver: ipamDriver, ipamOptions: ipamOptions, ipamConfigs: configs,
                                    isInternal: try d.bool(f, "Internal", ""), isAttachable: try d.bool(f, "Attachable", ""),
                                    isIngress: try d.bool(f, "Ingress", ""), enableIPv6: try d.optionalBool(f, "EnableIPv6", ""),
                                    labels: try d.stringMap(f, "Labels", ""), options: try d.stringMap(f, "Options", ""))
    }

    /// The names moby keeps for itself (`IsPredefined`).
    static let predefinedNames: Set<String> = ["bridge", "host", "none", "default"]

    /// moby's checks, in its order, with its statuses and messages; Skiff's own refusals (IPv6,
    /// drivers other than bridge, more than one subnet) say what is not supported.
    func validate() throws {
        if NetworkCreateRequest.predefinedNames.contains(name) {
            throw EngineError(.forbidden, "operation is not permitted on predefined \(name) network ")
        }
        if name.isEmpty {
            throw EngineError(.invalidArgument, "network name cannot be empty")
        }
        // moby takes any name that is not blank (libnetwork's NewNetwork): a network's name is
        // not an interface's or a DNS name here either (its bridge is br-<id12>).
        if name.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
            throw EngineError(.invalidArgument, "invalid name: name is empty")
        }
        switch driver {
        case "", "bridge": break
        case "overlay":
            throw EngineError(.forbidden, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
        case "host", "null":
            throw EngineError(.forbidden, "only one instance of \"\(driver)\" network is allowed")
        case "macvlan", "ipvlan":
            throw EngineError(.invalidArgument, "network driver \(driver) is not supported by Skiff: only bridge")
        default:
            throw EngineError(.notFound, "plugin \"\(driver)\" not found")
        }
        if !ipamDriver.isEmpty && ipamDriver != "default" {
            throw EngineError(.notFound, "plugin \"\(ipamDriver)\" not found")
        }
        if isIngress {
            throw EngineError(.forbidden, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
        }
        var ipv6 = enableIPv6 ?? false
        if enableIPv6 == nil, let option = options[NetworkCreateRequest.enableIPv6Option] {
            guard let value = ContainerValidation.parseGoBool(option) else {
                throw EngineError(.invalidArgument, "driver-opt \"\(NetworkCreateRequest.enableIPv6Option)\" is not a valid bool")
            }
            ipv6 = value
        }
        if let mtu = options[NetworkCreateRequest.mtuOption], Int(mtu).map({ !(68...65535).contains($0) }) ?? true {
            throw EngineError(.invalidArgument, "invalid MTU \"\(mtu)\" in \(NetworkCreateRequest.mtuOption): a number from 68 to 65535")
        }
        try validateIPAM()
        let v4 = ipamConfigs.filter { !IPv4Subnet.looksIPv6($0.subnet) }
        if v4.count > 1 {
            throw EngineError(.invalidArgument, "more than one IPv4 subnet per network is not supported by Skiff")
        }
        if ipamConfigs.count - v4.count > 1 {
            throw EngineError(.invalidArgument, "more than one IPv6 subnet per network is not supported by Skiff")
        }
        // moby 25 (API 1.44) has no default IPv6 pool: EnableIPv6 needs a subnet (an IPv6 subnet
        // turns EnableIPv6 on, `HasIPv6Subnets`).
        if ipv6 && ipv6Config == nil {
            throw EngineError(.notFound, "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network")
        }
    }

    /// One IPv6 pool, parsed (after `validate`).
    struct IPv6Config {
        var subnet: IPv6Subnet
        var ipRange: IPv6Subnet?
        var gateway: IPv6Subnet.Address?
    }

    /// The IPv6 pool asked for; nil when none was.
    var ipv6Config: IPv6Config? {
        guard let config = ipamConfigs.first(where: { IPv4Subnet.looksIPv6($0.subnet) }),
              let subnet = IPv6Subnet(cidr: config.subnet) else { return nil }
        return IPv6Config(subnet: subnet, ipRange: config.ipRange.isEmpty ? nil : IPv6Subnet(cidr: config.ipRange),
                          gateway: config.gateway.isEmpty ? nil : IPv6Subnet.parseAddress(config.gateway))
    }

    /// moby's `ValidateIPAM` for an IPv6 pool: its problems, in moby's order.
    static func ipv6Problems(_ config: IPAMConfig) -> [String] {
        guard let subnet = IPv6Subnet(cidr: config.subnet) else {
            return ["invalid subnet \(config.subnet): invalid CIDR block notation"]
        }
        var errors: [String] = []
        if !subnet.isMasked { errors.append("invalid subnet \(subnet): it should be \(subnet.masked)") }
        if !config.ipRange.isEmpty {
            if let range = IPv6Subnet(cidr: config.ipRange) {
                if range.prefixLength < subnet.prefixLength {
                    errors.append("invalid ip-range \(config.ipRange): CIDR block is bigger than its parent subnet \(subnet)")
                }
                if !range.isMasked { errors.append("invalid ip-range \(range): it should be \(range.masked)") }
                if !subnet.overlaps(range) {
                    errors.append("invalid ip-range \(config.ipRange): parent subnet \(subnet) doesn't contain ip-range")
                }
            } else if IPv4Subnet(cidr: config.ipRange) != nil {
                errors.append("invalid ip-range \(config.ipRange): parent subnet is an IPv6 block")
            } else {
                errors.append("invalid ip-range \(config.ipRange): invalid CIDR block notation")
            }
        }
        func problem(_ address: String) -> String? {
            if address.isEmpty { return nil }
            if IPv4Subnet.parseAddress(address) != nil { return "parent subnet is an IPv6 block" }
            guard let value = IPv6Subnet.parseAddress(address) else { return "invalid address" }
            return subnet.contains(value) ? nil : "parent subnet \(subnet) doesn't contain this address"
        }
        if let p = problem(config.gateway) { errors.append("invalid gateway \(config.gateway): \(p)") }
        for (name, address) in config.auxAddresses.sorted(by: { $0.key < $1.key }) {
            if let p = problem(address) { errors.append("invalid auxiliary address \(name): \(p)") }
        }
        return errors
    }

    /// moby's `ValidateIPAM`: every error, joined under `invalid network config:`.
    func validateIPAM() throws {
        var errors: [String] = []
        for config in ipamConfigs {
            if IPv4Subnet.looksIPv6(config.subnet) {
                errors += NetworkCreateRequest.ipv6Problems(config)
                continue
            }
            guard let subnet = IPv4Subnet(cidr: config.subnet) else {
                errors.append("invalid subnet \(config.subnet): invalid CIDR block notation")
                continue
            }
            if !subnet.isMasked {
                errors.append("invalid subnet \(subnet): it should be \(subnet.masked)")
            }
            if !config.ipRange.isEmpty {
                if IPv4Subnet.looksIPv6(config.ipRange) {
                    errors.append("invalid ip-range \(config.ipRange): parent subnet is an IPv4 block")
                } else if let range = IPv4Subnet(cidr: config.ipRange) {
                    if range.prefixLength < subnet.prefixLength {
                        errors.append("invalid ip-range \(config.ipRange): CIDR block is bigger than its parent subnet \(subnet)")
                    }
                    if !range.isMasked {
                        errors.append("invalid ip-range \(range): it should be \(range.masked)")
                    }
                    if !subnet.overlaps(range) {
                        errors.append("invalid ip-range \(config.ipRange): parent subnet \(subnet) doesn't contain ip-range")
                    }
                } else {
                    errors.append("invalid ip-range \(config.ipRange): invalid CIDR block notation")
                }
            }
            if let problem = NetworkCreateRequest.addressProblem(config.gateway, in: subnet) {
                errors.append("invalid gateway \(config.gateway): \(problem)")
            }
            for (name, address) in config.auxAddresses.sorted(by: { $0.key < $1.key }) {
                if let problem = NetworkCreateRequest.addressProblem(address, in: subnet) {
                    errors.append("invalid auxiliary address \(name): \(problem)")
                }
            }
        }
        if !errors.isEmpty {
            throw EngineError(.invalidArgument, "invalid network config:\n" + errors.joined(separator: "\n"))
        }
    }

    static func addressProblem(_ address: String, in subnet: IPv4Subnet) -> String? {
        if address.isEmpty { return nil }
        if IPv4Subnet.looksIPv6(address) { return "parent subnet is an IPv4 block" }
        guard let value = IPv4Subnet.parseAddress(address) else { return "invalid address" }
        if !subnet.contains(value) { return "parent subnet \(subnet) doesn't contain this address" }
        return nil
    }

    /// The auxiliary addresses of the IPv4 pool, reserved as moby's IPAM reserves them at create:
    /// after the gateway, one by one (by name here; moby's order is its map's), those inside
    /// the range containers get addresses from (the IP range, else the subnet) are taken, and one
    /// already taken (the gateway's, another's, the subnet's network or broadcast address) is
    /// moby's 500 `failed to allocate secondary ip address (NAME:ADDRESS): Address already in use`.
    /// Those outside the range are kept and shown, as moby, and are no container's anyway.
    func reservedAuxAddresses(subnet: IPv4Subnet, gateway: UInt32) throws -> [String: String] {
        guard let config = ipamConfigs.first(where: { !IPv4Subnet.looksIPv6($0.subnet) }) else { return [:] }
        let range = config.ipRange.isEmpty ? subnet : IPv4Subnet(cidr: config.ipRange) ?? subnet
        var taken: Set<UInt32> = [gateway]
        if subnet.prefixLength < 31 { taken.formUnion([subnet.network, subnet.broadcast]) }
        for (name, text) in config.auxAddresses.sorted(by: { $0.key < $1.key }) {
            guard let address = IPv4Subnet.parseAddress(text), range.contains(address) else { continue }
            if taken.contains(address) {
                throw EngineError(.internal, "failed to allocate secondary ip address (\(name):\(text)): Address already in use")
            }
            taken.insert(address)
        }
        return config.auxAddresses
    }

    /// The IPv4 pool asked for, parsed; nil when none was (a subnet is then picked).
    var ipv4Config: IPv4Config? {
        guard let config = ipamConfigs.first(where: { !IPv4Subnet.looksIPv6($0.subnet) }),
              let subnet = IPv4Subnet(cidr: config.subnet) else { return nil }
        return IPv4Config(subnet: subnet, ipRange: config.ipRange.isEmpty ? nil : IPv4Subnet(cidr: config.ipRange),
                          gateway: config.gateway.isEmpty ? nil : IPv4Subnet.parseAddress(config.gateway))
    }
}
