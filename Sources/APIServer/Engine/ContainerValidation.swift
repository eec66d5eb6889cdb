#if canImport(Glibc)
import Glibc
#endif
import Platform

/// The checks moby makes on a create request before anything is made, with its messages.
enum ContainerValidation {
    // MARK: - Names

    /// `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$` (moby's container name rule).
    static func checkName(_ name: String) throws -> String {
        let bare = name.hasPrefix("/") ? String(name.dropFirst()) : name
        guard isRestrictedName(bare) else {
            throw EngineError(.invalidArgument, "Invalid container name (\(name)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        return bare
    }

    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: container and local volume names.
    static func isRestrictedName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count >= 2 else { return false }
        func alnum(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        }
        guard alnum(bytes[0]) else { return false }
        return bytes.dropFirst().allSatisfy { alnum($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }

    // MARK: - Capabilities

    /// Linux capability names by number (capability.h).
    static let capabilityNames = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The capabilities this kernel has (up to /proc/sys/kernel/cap_last_cap), in number order.
    static let supportedCapabilities: [String] = {
        guard let bytes = try? FileSystem.readFile("/proc/sys/kernel/cap_last_cap"),
              let last = Int(String(decoding: bytes, as: UTF8.self).filter { $0.isNumber }) else {
            return capabilityNames
        }
        return Array(capabilityNames.prefix(last + 1))
    }()

    /// moby's NormalizeLegacyCapabilities: upper-cased, `CAP_` added, `ALL` kept; unknown names fail.
    static func normalizeCapabilities(_ names: [String], supported: [String] = supportedCapabilities) throws -> [String] {
        try names.map { raw in
            var name = raw.uppercased()
            if name == "ALL" { return name }
            if !name.hasPrefix("CAP_") { name = "CAP_" + name }
            guard capabilityNames.contains(name) else { throw EngineError(.invalidArgument, "unknown capability: \"\(name)\"") }
            guard supported.contains(name) else {
                throw EngineError(.invalidArgument, "capability not supported by your kernel or not available in the current environment: \"\(name)\"")
            }
            return name
        }
    }

    /// The container's capability set (moby's TweakCapabilities over containers.conf's
    /// default_capabilities): privileged gets every capability; `ALL` in CapAdd adds every one but
    /// CapDrop's; `ALL` in CapDrop keeps only CapAdd's.
    static func capabilities(defaults: [String], add: [String], drop: [String], privileged: Bool,
                             supported: [String] = supportedCapabilities) throws -> [String] {
        if privileged { return supported }
        let base = try normalizeCapabilities(defaults, supported: capabilityNames)
        let drops = try normalizeCapabilities(drop, supported: supported)
        let adds = try normalizeCapabilities(add, supported: supported)
        var result: [String] = []
        if adds.contains("ALL") {
            result = supported.filter { !drops.contains($0) }
        } else if drops.contains("ALL") {
            result = adds
        } else {
            result = base.filter { !drops.contains($0) } + adds
        }
        var seen: Set<String> = []
        return result.filter { seen.insert($0).inserted }
    }

    // MARK: - Signals


    /// moby's ParseSignal: a number, or a name with or without `SIG` (`RTMIN+3` too).
    static func parseSignal(_ text: String) throws -> Int32 {
        guard let n = SignalNames.number(text) else { throw EngineError(.invalidArgument, "Invalid signal: \(text)") }
        return n
    }

    // MARK: - Restart policy

    static func checkRestartPolicy(_ policy: CreateRequest.RestartPolicy, autoRemove: Bool) throws {
        let name = policy.name
        // moby: AutoRemove with any policy but "no" fails first.
        if autoRemove && !(name.isEmpty || name == "no") {
            throw EngineError(.invalidArgument, "can't create 'AutoRemove' container with restart policy")
        }
        switch name {
        case "", "no", "always", "unless-stopped":
            if policy.maximumRetryCount != 0 {
                throw EngineError(.invalidArgument, "invalid restart policy: maximum retry count can only be used with 'on-failure'")
            }
        case "on-failure":
            if policy.maximumRetryCount < 0 {
                throw EngineError(.invalidArgument, "invalid restart policy: maximum retry count cannot be negative")
            }
        default:
            throw EngineError(.invalidArgument, "invalid restart policy: unknown policy '\(name)'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
        }
    }

    // MARK: - Security options

    struct SecurityOptions: Equatable {
        /// nil: the default profile; "unconfined"; a path; or inline JSON (what the docker CLI sends).
        var seccomp: String?
        /// Learn a profile (docs/denials.md): `seccomp-learn=FILE`, or `seccomp=learn:FILE` (the
        /// docker CLI reads `seccomp=`'s value as a file, so the first spelling is the CLI's).
        var seccompLearn: String?
        var noNewPrivileges = false
        var labels: [String] = []
        var apparmor = ""
    }

    /// moby's parseSecurityOpt (`key=value`, the old `key:value`, `no-new-privileges` alone).
    static func securityOptions(_ options: [String]) throws -> SecurityOptions {
        var result = SecurityOptions()
        for option in options {
            if option == "no-new-privileges" { result.noNewPrivileges = true; continue }
            if option == "disable" { result.labels.append("disable"); continue }
            var key = "", value = ""
            if let eq = option.firstIndex(of: "=") {
                key = String(option[..<eq]); value = String(option[option.index(after: eq)...])
            } else if let colon = option.firstIndex(of: ":") {
                key = String(option[..<colon]); value = String(option[option.index(after: colon)...])
            } else {
                throw EngineError(.invalidArgument, "invalid --security-opt 1: \"\(option)\"")
            }
            switch key {
            case "label": result.labels.append(value)
            case "apparmor": result.apparmor = value
            case "seccomp" where value.hasPrefix("learn:"): result.seccompLearn = String(value.dropFirst("learn:".count))
            case "seccomp": result.seccomp = value
            case "seccomp-learn": result.seccompLearn = value
            case "no-new-privileges":
                guard let flag = parseGoBool(value) else { throw EngineError(.invalidArgument, "invalid --security-opt 2: \"\(option)\"") }
                result.noNewPrivileges = flag
            default:
                throw EngineError(.invalidArgument, "invalid --security-opt 2: \"\(option)\"")
            }
        }
        return result
    }

    /// Go's strconv.ParseBool.
    static func parseGoBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    // MARK: - Ulimits

    static let rlimitNames: [String: String] = [
        "as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
        "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
        "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
        "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
    ]

    static func checkUlimit(_ u: CreateRequest.Ulimit) throws {
        guard rlimitNames[u.name] != nil else { throw EngineError(.invalidArgument, "invalid ulimit type: \(u.name)") }
        if u.hard != -1 && u.soft != -1 && u.soft > u.hard {
            throw EngineError(.invalidArgument, "ulimit soft limit must be less than or equal to hard limit: \(u.soft) > \(u.hard)")
        }
    }

    /// containers.conf `default_ulimits` entries: `name=soft[:hard]` (go-units ParseUlimit).
    static func parseUlimit(_ text: String) throws -> CreateRequest.Ulimit {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw EngineError(.internal, "containers.conf default_ulimits: invalid ulimit argument: \(text)") }
        let limits = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard limits.count <= 2, let soft = Int64(limits[0]), let hard = Int64(limits.count == 2 ? limits[1] : limits[0]) else {
            throw EngineError(.internal, "containers.conf default_ulimits: invalid ulimit argument: \(text)")
        }
        let ulimit = CreateRequest.Ulimit(name: String(parts[0]), soft: soft, hard: hard)
        try checkUlimit(ulimit)
        return ulimit
    }

    // MARK: - Healthcheck, env, working directory, extra hosts

    static func checkHealthcheck(_ h: CreateRequest.Healthcheck?) throws {
        guard let h else { return }
        let minimum: Int64 = 1_000_000
        if h.interval != 0 && h.interval < minimum { throw EngineError(.invalidArgument, "Interval in Healthcheck cannot be less than 1ms") }
        if h.timeout != 0 && h.timeout < minimum { throw EngineError(.invalidArgument, "Timeout in Healthcheck cannot be less than 1ms") }
        if h.retries < 0 { throw EngineError(.invalidArgument, "Retries in Healthcheck cannot be negative") }
        if h.startPeriod != 0 && h.startPeriod < minimum { throw EngineError(.invalidArgument, "StartPeriod in Healthcheck cannot be less than 1ms") }
        if h.startInterval != 0 && h.startInterval < minimum { throw EngineError(.invalidArgument, "StartInterval in Healthcheck cannot be less than 1ms") }
    }

    static func checkEnv(_ env: [String]) throws {
        for entry in env where entry.isEmpty || entry.hasPrefix("=") {
            throw EngineError(.invalidArgument, "invalid environment variable: \(entry)")
        }
    }

    /// moby's translateWorkingDir: an absolute path (cleaned), or empty.
    static func workingDir(_ dir: String) throws -> String {
        guard !dir.isEmpty else { return "" }
        guard dir.hasPrefix("/") else {
            throw EngineError(.invalidArgument, "the working directory '\(dir)' is invalid, it needs to be an absolute path")
        }
        return cleanPath(dir)
    }

    /// `name:ip` (IPv6 allowed after the first colon), or `name:host-gateway`.
    static func extraHost(_ text: String) throws -> (name: String, address: String) {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw EngineError(.invalidArgument, "bad format for add-host: \"\(text)\"")
        }
        let name = String(text[..<colon])
        var address = String(text[text.index(after: colon)...])
        if address.hasPrefix("[") && address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
        if address != "host-gateway" && !isIPAddress(address) {
            throw EngineError(.invalidArgument, "invalid IP address in add-host: \"\(address)\"")
        }
        return (name, address)
    }

    static func isIPAddress(_ text: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, text, &buffer) == 1 || inet_pton(AF_INET6, text, &buffer) == 1
    }

    /// Go's path.Clean (`FileSystem.cleanPath`).
    static func cleanPath(_ path: String) -> String { FileSystem.cleanPath(path) }
}
