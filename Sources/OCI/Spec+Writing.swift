import Platform

// The writer: a `Spec` as config.json text, members in the runtime spec's order, optional
// fields left out when nil (and the lists Skiff never needs empty, when empty), map keys
// sorted so the same spec is always the same bytes. What `SpecReader` reads back is the same
// `Spec`.

extension Spec {
    /// config.json as a JSON value.
    public var json: JSON {
        var members = [JSON.Member("ociVersion", .string(ociVersion))]
        if let process { members.append(JSON.Member("process", process.json)) }
        if let root {
            var fields = [JSON.Member("path", .string(root.path))]
            if let readonly = root.readonly { fields.append(JSON.Member("readonly", .bool(readonly))) }
            members.append(JSON.Member("root", .object(fields)))
        }
        if let hostname { members.append(JSON.Member("hostname", .string(hostname))) }
        if let domainname { members.append(JSON.Member("domainname", .string(domainname))) }
        if let mounts { members.append(JSON.Member("mounts", .array(mounts.map(\.json)))) }
        if let linux { members.append(JSON.Member("linux", linux.json)) }
        if let annotations { members.append(JSON.Member("annotations", Spec.sorted(annotations))) }
        return .object(members)
    }

    /// config.json text, ending in a newline.
    public var bytes: [UInt8] {
        var out = json.bytes
        out.append(0x0A)
        return out
    }

    static func sorted(_ map: [String: String]) -> JSON {
        .object(map.keys.sorted().map { JSON.Member($0, .string(map[$0] ?? "")) })
    }
}

extension Spec.Process {
    public var json: JSON {
        var members: [JSON.Member] = []
        if let terminal { members.append(JSON.Member("terminal", .bool(terminal))) }
        var user = [JSON.Member("uid", .int(Int64(self.user.uid))), JSON.Member("gid", .int(Int64(self.user.gid)))]
        if let umask = self.user.umask { user.append(JSON.Member("umask", .int(Int64(umask)))) }
        if let gids = self.user.additionalGids { user.append(JSON.Member("additionalGids", .array(gids.map { .int(Int64($0)) }))) }
        members.append(JSON.Member("user", .object(user)))
        if let args { members.append(JSON.Member("args", JSON(args))) }
        if let env { members.append(JSON.Member("env", JSON(env))) }
        members.append(JSON.Member("cwd", .string(cwd)))
        if let capabilities {
            let sets = [("bounding", capabilities.bounding), ("effective", capabilities.effective),
                        ("inheritable", capabilities.inheritable), ("permitted", capabilities.permitted),
                        ("ambient", capabilities.ambient)]
            members.append(JSON.Member("capabilities", .object(sets.compactMap { key, names in
                names.map { JSON.Member(key, JSON($0)) }
            })))
        }
        if let rlimits {
            members.append(JSON.Member("rlimits", .array(rlimits.map {
                .object([JSON.Member("type", .string($0.type)), JSON.Member("hard", .uint($0.hard)),
                         JSON.Member("soft", .uint($0.soft))])
            })))
        }
        if let noNewPrivileges { members.append(JSON.Member("noNewPrivileges", .bool(noNewPrivileges))) }
        if let oomScoreAdj { members.append(JSON.Member("oomScoreAdj", .int(Int64(oomScoreAdj)))) }
        if let selinuxLabel { members.append(JSON.Member("selinuxLabel", .string(selinuxLabel))) }
        if let apparmorProfile { members.append(JSON.Member("apparmorProfile", .string(apparmorProfile))) }
        return .object(members)
    }
}

extension Spec.Mount {
    public var json: JSON {
        var members = [JSON.Member("destination", .string(destination))]
        if let type { members.append(JSON.Member("type", .string(type))) }
        if let source { members.append(JSON.Member("source", .string(source))) }
        if let options { members.append(JSON.Member("options", JSON(options))) }
        return .object(members)
    }
}

extension Spec.Linux {
    public var json: JSON {
        var members: [JSON.Member] = []
        if let namespaces {
            members.append(JSON.Member("namespaces", .array(namespaces.map { namespace in
                var fields = [JSON.Member("type", .string(namespace.type))]
                if let path = namespace.path { fields.append(JSON.Member("path", .string(path))) }
                return .object(fields)
            })))
        }
        for (key, mappings) in [("uidMappings", uidMappings), ("gidMappings", gidMappings)] {
            guard let mappings else { continue }
            members.append(JSON.Member(key, .array(mappings.map {
                .object([JSON.Member("containerID", .int(Int64($0.containerID))),
                         JSON.Member("hostID", .int(Int64($0.hostID))), JSON.Member("size", .int(Int64($0.size)))])
            })))
        }
        if let maskedPaths { members.append(JSON.Member("maskedPaths", JSON(maskedPaths))) }
        if let readonlyPaths { members.append(JSON.Member("readonlyPaths", JSON(readonlyPaths))) }
        if let sysctl { members.append(JSON.Member("sysctl", Spec.sorted(sysctl))) }
        if let resources, !resources.isEmpty { members.append(JSON.Member("resources", resources.json)) }
        if let cgroupsPath { members.append(JSON.Member("cgroupsPath", .string(cgroupsPath))) }
        if let rootfsPropagation { members.append(JSON.Member("rootfsPropagation", .string(rootfsPropagation))) }
        if let mountLabel { members.append(JSON.Member("mountLabel", .string(mountLabel))) }
        if let seccomp { members.append(JSON.Member("seccomp", seccomp.json)) }
        return .object(members)
    }
}

extension Spec.Resources {
    /// pids, memory, cpu, blockIO: each only with a member set.
    public var json: JSON {
        var members: [JSON.Member] = []
        if let pidsLimit { members.append(JSON.Member("pids", .object([JSON.Member("limit", .int(pidsLimit))]))) }
        let memory = [("limit", memoryLimit), ("reservation", memoryReservation), ("swap", memorySwap)]
            .compactMap { key, value in value.map { JSON.Member(key, .int($0)) } }
        if !memory.isEmpty { members.append(JSON.Member("memory", .object(memory))) }
        var cpu: [JSON.Member] = []
        if let cpuShares { cpu.append(JSON.Member("shares", .uint(cpuShares))) }
        if let cpuQuota { cpu.append(JSON.Member("quota", .int(cpuQuota))) }
        if let cpuPeriod { cpu.append(JSON.Member("period", .uint(cpuPeriod))) }
        if let cpusetCpus { cpu.append(JSON.Member("cpus", .string(cpusetCpus))) }
        if let cpusetMems { cpu.append(JSON.Member("mems", .string(cpusetMems))) }
        if !cpu.isEmpty { members.append(JSON.Member("cpu", .object(cpu))) }
        if let blkioWeight { members.append(JSON.Member("blockIO", .object([JSON.Member("weight", .uint(UInt64(blkioWeight)))]))) }
        return .object(members)
    }
}

extension Spec.Seccomp {
    public var json: JSON {
        var members = [JSON.Member("defaultAction", .string(defaultAction.rawValue))]
        if let defaultErrnoRet { members.append(JSON.Member("defaultErrnoRet", .int(Int64(defaultErrnoRet)))) }
        if !architectures.isEmpty { members.append(JSON.Member("architectures", JSON(architectures))) }
        if !flags.isEmpty { members.append(JSON.Member("flags", JSON(flags))) }
        members.append(JSON.Member("syscalls", .array(syscalls.map { rule in
            var fields = [JSON.Member("names", JSON(rule.names)), JSON.Member("action", .string(rule.action.rawValue))]
            if let errnoRet = rule.errnoRet { fields.append(JSON.Member("errnoRet", .int(Int64(errnoRet)))) }
            if !rule.args.isEmpty {
                fields.append(JSON.Member("args", .array(rule.args.map {
                    .object([JSON.Member("index", .int(Int64($0.index))), JSON.Member("value", .uint($0.value)),
                             JSON.Member("valueTwo", .uint($0.valueTwo)), JSON.Member("op", .string($0.op.rawValue))])
                })))
            }
            return .object(fields)
        })))
        return .object(members)
    }
}
