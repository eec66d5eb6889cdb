import Platform

/// Turns a parsed config.json into a `Spec`, naming the field in every complaint
/// (`config.json: process.user.uid: expected a number, found a string`). Unknown fields are
/// ignored, as the runtime spec asks.
struct SpecReader {
    let source: String

    func fail(_ path: String, _ what: String) -> OCIError {
        OCIError(.invalidArgument, "\(source): \(path): \(what)")
    }

    func spec(_ json: JSON) throws -> Spec {
        _ = try object(json, "(top level)")
        let linux = try json["linux"].flatMap { try self.linux($0, "linux") }
        return Spec(
            ociVersion: try string(required(json, "ociVersion", ""), "ociVersion"),
            process: try json["process"].flatMap { $0 == .null ? nil : try process($0, "process") },
            root: try json["root"].flatMap { value -> Spec.Root? in
                if value == .null { return nil }
                return Spec.Root(path: try string(required(value, "path", "root"), "root.path"),
                                 readonly: try optionalBool(value["readonly"], "root.readonly"))
            },
            hostname: try optionalString(json["hostname"], "hostname"),
            domainname: try optionalString(json["domainname"], "domainname"),
            mounts: try optionalArray(json["mounts"], "mounts")?.enumerated().map { i, m in
                let path = "mounts[\(i)]"
                return Spec.Mount(destination: try string(required(m, "destination", path), path + ".destination"),
                                  type: try optionalString(m["type"], path + ".type"),
                                  source: try optionalString(m["source"], path + ".source"),
                                  options: try optionalStrings(m["options"], path + ".options"))
            },
            linux: linux,
            annotations: try json["annotations"].flatMap { value -> [String: String]? in
                if value == .null { return nil }
                var result: [String: String] = [:]
                for member in try object(value, "annotations") {
                    result[member.key] = try string(member.value, "annotations.\(member.key)")
                }
                return result
            })
    }

    func process(_ json: JSON, _ path: String) throws -> Spec.Process {
        _ = try object(json, path)
        let user = try required(json, "user", path)
        let capabilities = try json["capabilities"].flatMap { value -> Spec.Capabilities? in
            if value == .null { return nil }
            let p = path + ".capabilities"
            return Spec.Capabilities(bounding: try optionalStrings(value["bounding"], p + ".bounding"),
                                   effective: try optionalStrings(value["effective"], p + ".effective"),
                                   inheritable: try optionalStrings(value["inheritable"], p + ".inheritable"),
                                   permitted: try optionalStrings(value["permitted"], p + ".permitted"),
                                   ambient: try optionalStrings(value["ambient"], p + ".ambient"))
        }
        return Spec.Process(
            terminal: try optionalBool(json["terminal"], path + ".terminal"),
            user: Spec.User(uid: try uint32(required(user, "uid", path + ".user"), path + ".user.uid"),
                            gid: try uint32(required(user, "gid", path + ".user"), path + ".user.gid"),
                            umask: try user["umask"].flatMap { $0 == .null ? nil : try uint32($0, path + ".user.umask") },
                            additionalGids: try optionalArray(user["additionalGids"], path + ".user.additionalGids")?
                                .enumerated().map { try uint32($1, path + ".user.additionalGids[\($0)]") }),
            args: try optionalStrings(json["args"], path + ".args"),
            env: try optionalStrings(json["env"], path + ".env"),
            cwd: try string(required(json, "cwd", path), path + ".cwd"),
            capabilities: capabilities,
            rlimits: try optionalArray(json["rlimits"], path + ".rlimits")?.enumerated().map { i, r in
                let p = path + ".rlimits[\(i)]"
                return Spec.Rlimit(type: try string(required(r, "type", p), p + ".type"),
                                   hard: try uint64(required(r, "hard", p), p + ".hard"),
                                   soft: try uint64(required(r, "soft", p), p + ".soft"))
            },
            noNewPrivileges: try optionalBool(json["noNewPrivileges"], path + ".noNewPrivileges"),
            oomScoreAdj: try json["oomScoreAdj"].flatMap { $0 == .null ? nil : try int($0, path + ".oomScoreAdj") },
            selinuxLabel: try optionalString(json["selinuxLabel"], path + ".selinuxLabel"),
            apparmorProfile: try optionalString(json["apparmorProfile"], path + ".apparmorProfile"))
    }

    func linux(_ json: JSON, _ path: String) throws -> Spec.Linux? {
        if json == .null { return nil }
        _ = try object(json, path)
        func mappings(_ key: String) throws -> [Spec.Mapping]? {
            try optionalArray(json[key], "\(path).\(key)")?.enumerated().map { i, m in
                let p = "\(path).\(key)[\(i)]"
                return Spec.Mapping(containerID: try uint32(required(m, "containerID", p), p + ".containerID"),
                                    hostID: try uint32(required(m, "hostID", p), p + ".hostID"),
                                    size: try uint32(required(m, "size", p), p + ".size"))
            }
        }
        var sysctl: [String: String]?
        if let value = json["sysctl"], value != .null {
            sysctl = [:]
            for member in try object(value, path + ".sysctl") {
                sysctl?[member.key] = try string(member.value, "\(path).sysctl.\(member.key)")
            }
        }
        return Spec.Linux(
            namespaces: try optionalArray(json["namespaces"], path + ".namespaces")?.enumerated().map { i, n in
                let p = "\(path).namespaces[\(i)]"
                return Spec.Namespace(type: try string(required(n, "type", p), p + ".type"),
                                      path: try optionalString(n["path"], p + ".path"))
            },
            uidMappings: try mappings("uidMappings"),
            gidMappings: try mappings("gidMappings"),
            maskedPaths: try optionalStrings(json["maskedPaths"], path + ".maskedPaths"),
            readonlyPaths: try optionalStrings(json["readonlyPaths"], path + ".readonlyPaths"),
            rootfsPropagation: try optionalString(json["rootfsPropagation"], path + ".rootfsPropagation"),
            mountLabel: try optionalString(json["mountLabel"], path + ".mountLabel"),
            sysctl: sysctl,
            seccomp: try seccomp(json["seccomp"], path + ".seccomp"),
            resources: try resources(json["resources"], path + ".resources"),
            cgroupsPath: try optionalString(json["cgroupsPath"], path + ".cgroupsPath"))
    }

    /// `linux.resources`: the pids, memory, cpu (with cpus/mems) and blockIO.weight members Skiff
    /// applies; the others (devices, blockIO's per-device members, hugepageLimits, network, rdma,
    /// unified) are ignored.
    func resources(_ json: JSON?, _ path: String) throws -> Spec.Resources? {
        guard let json, json != .null else { return nil }
        _ = try object(json, path)
        var result = Spec.Resources()
        if let pids = json["pids"], pids != .null {
            _ = try object(pids, path + ".pids")
            result.pidsLimit = try int64(required(pids, "limit", path + ".pids"), path + ".pids.limit")
        }
        if let memory = json["memory"], memory != .null {
            _ = try object(memory, path + ".memory")
            result.memoryLimit = try optionalInt64(memory["limit"], path + ".memory.limit")
            result.memoryReservation = try optionalInt64(memory["reservation"], path + ".memory.reservation")
            result.memorySwap = try optionalInt64(memory["swap"], path + ".memory.swap")
        }
        if let cpu = json["cpu"], cpu != .null {
            _ = try object(cpu, path + ".cpu")
            result.cpuShares = try cpu["shares"].flatMap { $0 == .null ? nil : try uint64($0, path + ".cpu.shares") }
            result.cpuQuota = try optionalInt64(cpu["quota"], path + ".cpu.quota")
            result.cpuPeriod = try cpu["period"].flatMap { $0 == .null ? nil : try uint64($0, path + ".cpu.period") }
            result.cpusetCpus = try optionalString(cpu["cpus"], path + ".cpu.cpus")
            result.cpusetMems = try optionalString(cpu["mems"], path + ".cpu.mems")
        }
        if let blockIO = json["blockIO"], blockIO != .null {
            _ = try object(blockIO, path + ".blockIO")
            if let weight = try blockIO["weight"].flatMap({ $0 == .null ? nil : try uint64($0, path + ".blockIO.weight") }) {
                guard weight <= UInt64(UInt16.max) else {
                    throw fail(path + ".blockIO.weight", "\(weight) is not a 16-bit weight")
                }
                result.blkioWeight = UInt16(weight)
            }
        }
        return result
    }

    /// `linux.seccomp`, read as the profile format is (the same checks and messages, naming
    /// the file without its directory: `config.json linux.seccomp`). Conditions (`includes`,
    /// `excludes`) are not OCI fields and are ignored, as runc and crun ignore them; an `archMap`
    /// is resolved for this machine.
    func seccomp(_ json: JSON?, _ path: String) throws -> Spec.Seccomp? {
        guard let json, json != .null else { return nil }
        let file = source.split(separator: "/").last.map(String.init) ?? source
        let profile = try SeccompProfile.parse(json: json, source: file + " " + path)
        return Spec.Seccomp(
            defaultAction: profile.defaultAction, defaultErrnoRet: profile.defaultErrnoRet,
            architectures: profile.architectures(for: SeccompProfile.Target.hostArchitecture()),
            flags: profile.flags,
            syscalls: profile.syscalls.map {
                Spec.Seccomp.Syscall(names: $0.names, action: $0.action, errnoRet: $0.errnoRet, args: $0.args)
            })
    }

    // MARK: - Typed access

    func required(_ json: JSON, _ key: String, _ path: String) throws -> JSON {
        guard let value = json[key], value != .null else {
            throw OCIError(.invalidArgument, "\(source): missing \(path.isEmpty ? key : path + "." + key)")
        }
        return value
    }

    func object(_ json: JSON, _ path: String) throws -> [JSON.Member] {
        guard case .object(let members) = json else { throw fail(path, "expected an object, found \(json.kind)") }
        return members
    }

    func string(_ json: JSON, _ path: String) throws -> String {
        guard case .string(let s) = json else { throw fail(path, "expected a string, found \(json.kind)") }
        return s
    }

    func optionalString(_ json: JSON?, _ path: String) throws -> String? {
        guard let json, json != .null else { return nil }
        return try string(json, path)
    }

    func optionalBool(_ json: JSON?, _ path: String) throws -> Bool? {
        guard let json, json != .null else { return nil }
        guard case .bool(let b) = json else { throw fail(path, "expected a boolean, found \(json.kind)") }
        return b
    }

    func optionalArray(_ json: JSON?, _ path: String) throws -> [JSON]? {
        guard let json, json != .null else { return nil }
        guard case .array(let elements) = json else { throw fail(path, "expected an array, found \(json.kind)") }
        return elements
    }

    func optionalStrings(_ json: JSON?, _ path: String) throws -> [String]? {
        try optionalArray(json, path)?.enumerated().map { try string($1, "\(path)[\($0)]") }
    }

    func int(_ json: JSON, _ path: String) throws -> Int {
        guard case .int(let n) = json, let value = Int(exactly: n) else {
            throw fail(path, "expected an integer, found \(json.kind)")
        }
        return value
    }

    func int64(_ json: JSON, _ path: String) throws -> Int64 {
        switch json {
        case .int(let n): return n
        case .uint: throw fail(path, "expected a number from -9223372036854775808 to 9223372036854775807")
        default: throw fail(path, "expected an integer, found \(json.kind)")
        }
    }

    func optionalInt64(_ json: JSON?, _ path: String) throws -> Int64? {
        guard let json, json != .null else { return nil }
        return try int64(json, path)
    }

    func uint64(_ json: JSON, _ path: String) throws -> UInt64 {
        switch json {
        case .int(let n) where n >= 0: return UInt64(n)
        case .uint(let n): return n
        case .int: throw fail(path, "expected a number from 0 to 18446744073709551615, found a negative number")
        default: throw fail(path, "expected a number, found \(json.kind)")
        }
    }

    func uint32(_ json: JSON, _ path: String) throws -> UInt32 {
        guard case .int(let n) = json, let value = UInt32(exactly: n) else {
            if case .int = json { throw fail(path, "expected a number from 0 to 4294967295") }
            throw fail(path, "expected a number, found \(json.kind)")
        }
        return value
    }
}
