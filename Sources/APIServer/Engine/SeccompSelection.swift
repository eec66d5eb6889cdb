#if canImport(Glibc)
import Glibc
#endif
import Platform

/// Turns a seccomp profile in the Docker/Podman file format (archMap, rules with
/// `includes`/`excludes` on capabilities, architectures and kernel version) into the OCI
/// `linux.seccomp` object for one container, as moby's and Podman's setupSeccomp do: only
/// the rules that apply to this container's capabilities, architecture and kernel remain.
enum SeccompSelection {
    /// Where the default profile is looked for when containers.conf names none: Podman's two
    /// places, then the copy Skiff installs beside its binary (`<prefix>/share/skiff`), then a
    /// build tree's `share/seccomp.json`.
    static func defaultProfilePaths(executable: String? = executablePath()) -> [String] {
        var paths = ["/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json"]
        if let executable, let slash = executable.lastIndex(of: "/") {
            var directory = String(executable[..<slash])
            paths.append(directory + "/../share/skiff/seccomp.json")
            for _ in 0..<4 {
                guard let up = directory.lastIndex(of: "/") else { break }
                directory = String(directory[..<up])
                paths.append(directory + "/share/seccomp.json")
            }
        }
        return paths
    }

    static func executablePath() -> String? { SelfExecutable.path }

    /// The profile text and where it came from: containers.conf `seccomp_profile` when set,
    /// else the first default that exists.
    static func loadProfile(configured: String) throws -> (JSON, String) {
        let candidates = configured.isEmpty ? defaultProfilePaths() : [configured]
        for path in candidates {
            guard let bytes = try? FileSystem.readFile(path) else { continue }
            return (try parse(bytes, source: path), path)
        }
        if !configured.isEmpty {
            throw EngineError(.internal, "opening seccomp profile (\(configured)) failed: containers.conf seccomp_profile: no such file")
        }
        throw EngineError(.internal, "no default seccomp profile: none of \(candidates.joined(separator: ", ")) exists")
    }

    static func parse(_ bytes: [UInt8], source: String) throws -> JSON {
        do {
            let json = try JSONParser.parse(bytes)
            guard case .object = json else { throw EngineError(.invalidArgument, "decoding seccomp profile failed: \(source): not an object") }
            return json
        } catch let error as JSONParser.Failure {
            throw EngineError(.invalidArgument, "decoding seccomp profile failed: \(source): \(error.message)")
        }
    }

    /// The OCI object for `capabilities` (CAP_ names) on this machine.
    static func oci(_ profile: JSON, capabilities: [String], machine: String = hostMachine(),
                    kernel: (Int, Int)? = hostKernel()) -> JSON {
        let (goArch, scmpArch) = architectures(machine)
        var members: [JSON.Member] = []
        if let action = profile["defaultAction"] { members.append(JSON.Member("defaultAction", action)) }
        if let errno = profile["defaultErrnoRet"], errno != .null { members.append(JSON.Member("defaultErrnoRet", errno)) }
        var arches: [String] = []
        if case .array(let map)? = profile["archMap"] {
            for entry in map where string(entry["architecture"]) == scmpArch {
                arches = [scmpArch] + strings(entry["subArchitectures"])
            }
        }
        if arches.isEmpty { arches = strings(profile["architectures"]) }
        if !arches.isEmpty { members.append(JSON.Member("architectures", JSON(arches))) }
        if let flags = profile["flags"], flags != .null { members.append(JSON.Member("flags", flags)) }
        var rules: [JSON] = []
        if case .array(let syscalls)? = profile["syscalls"] {
            for rule in syscalls where applies(rule, capabilities: capabilities, arch: goArch, kernel: kernel) {
                var names = strings(rule["names"])
                if names.isEmpty, let name = string(rule["name"]) { names = [name] }
                var out: [JSON.Member] = [JSON.Member("names", JSON(names))]
                if let action = rule["action"] { out.append(JSON.Member("action", action)) }
                if let errno = rule["errnoRet"], errno != .null { out.append(JSON.Member("errnoRet", errno)) }
                if let args = rule["args"], args != .null, args != .array([]) { out.append(JSON.Member("args", args)) }
                rules.append(.object(out))
            }
        }
        members.append(JSON.Member("syscalls", .array(rules)))
        return .object(members)
    }

    static func applies(_ rule: JSON, capabilities: [String], arch: String, kernel: (Int, Int)?) -> Bool {
        let exclude = rule["excludes"] ?? .null
        let include = rule["includes"] ?? .null
        if strings(exclude["arches"]).contains(arch) { return false }
        if strings(exclude["caps"]).contains(where: capabilities.contains) { return false }
        if let min = string(exclude["minKernel"]).flatMap(parseKernel), let kernel, kernel >= min { return false }
        let arches = strings(include["arches"])
        if !arches.isEmpty && !arches.contains(arch) { return false }
        if !strings(include["caps"]).allSatisfy(capabilities.contains) { return false }
        if let min = string(include["minKernel"]).flatMap(parseKernel) {
            guard let kernel, kernel >= min else { return false }
        }
        return true
    }

    static func string(_ json: JSON?) -> String? {
        if case .string(let s)? = json { return s }
        return nil
    }

    static func strings(_ json: JSON?) -> [String] {
        guard case .array(let values)? = json else { return [] }
        return values.compactMap { if case .string(let s) = $0 { return s }; return nil }
    }

    static func parseKernel(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: ".")
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1].prefix { $0.isNumber }) else { return nil }
        return (major, minor)
    }

    static func hostMachine() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "x86_64" }
        return String(fixedCString: names.machine)
    }

    static func hostKernel() -> (Int, Int)? {
        var names = utsname()
        guard uname(&names) == 0 else { return nil }
        return parseKernel(String(fixedCString: names.release))
    }

    /// Go's GOARCH and libseccomp's name for `uname -m`.
    static func architectures(_ machine: String) -> (String, String) {
        switch machine {
        case "x86_64": return ("amd64", "SCMP_ARCH_X86_64")
        case "aarch64": return ("arm64", "SCMP_ARCH_AARCH64")
        case "ppc64le": return ("ppc64le", "SCMP_ARCH_PPC64LE")
        case "s390x": return ("s390x", "SCMP_ARCH_S390X")
        case "riscv64": return ("riscv64", "SCMP_ARCH_RISCV64")
        case "i686", "i386": return ("386", "SCMP_ARCH_X86")
        default: return (machine, "SCMP_ARCH_" + machine.uppercased())
        }
    }
}
