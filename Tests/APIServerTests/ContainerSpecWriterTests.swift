import OCI
import Platform
import Testing
@testable import APIServer

/// The config.json a create writes, old against new: `LegacyContainerSpec` is the untyped
/// builder (and the service's own seccomp rule selection) that the OCI module's typed `Spec`,
/// its writer and `SeccompProfile.oci(for:)` replaced, kept here as the oracle. For each request
/// the two texts hold the same JSON (objects compared without regard to key order).
struct ContainerSpecWriterTests {
    static let podmanCapabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                                     "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
                                     "CAP_SYS_CHROOT"]

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var input: ContainerSpecInput
        var testDescription: String { name }
    }

    static func base() -> ContainerSpecInput {
        ContainerSpecInput(args: ["sh", "-c", "echo \"hi\""], env: ["PATH=/bin", "A=é"], cwd: "",
                           user: ImageUser(uid: 0, gid: 0, additionalGids: [], home: "/root"),
                           capabilities: podmanCapabilities, hostname: "3f2a", lowerDirs: ["/l/top", "/l/low"],
                           containerDir: "/c/3f2a", userNamespace: true,
                           annotations: ["run.skiff.create-cwd": "true"])
    }

    static let cases: [Case] = {
        var all = [Case(name: "docker run busybox (rootless)", input: base())]
        var root = base()
        root.userNamespace = false
        root.terminal = true
        root.user = ImageUser(uid: 1000, gid: 1001, additionalGids: [10, 50], home: "/home/app")
        root.cwd = "/work"
        root.rlimits = [("RLIMIT_NOFILE", 1024, 4096), ("RLIMIT_NPROC", 100, 200)]
        root.noNewPrivileges = true
        root.domainname = "example.org"
        root.readonlyRoot = true
        root.volatileRoot = true
        root.sysctls = ["net.ipv4.ip_forward": "1", "kernel.msgmax": "65536"]
        root.oomScoreAdj = 500
        root.pidsLimit = 64
        root.resources = .init(memoryLimit: 32 << 20, memoryReservation: 16 << 20, memorySwap: -1, cpuShares: 512,
                               cpuQuota: 50_000, cpuPeriod: 100_000)
        root.selinuxProcessLabel = "system_u:system_r:container_t:s0:c1,c2"
        root.selinuxMountLabel = "system_u:object_r:container_file_t:s0:c1,c2"
        root.annotations = ["run.skiff.create-cwd": "true", "run.skiff.selinux-label-options": #"["level:s0"]"#, "x": "y"]
        root.initPath = "/usr/libexec/catatonit"
        root.mounts = [PlannedMount(kind: .bind, source: "/srv/data", destination: "/data", options: ["rbind", "ro"]),
                       PlannedMount(kind: .tmpfs, source: "", destination: "/dev/shm", options: ["size=1m"]),
                       PlannedMount(kind: .volume, source: "/v/x/_data", destination: "/etc/hosts", options: ["rbind"])]
        all.append(Case(name: "as root, every option", input: root))
        var host = base()
        host.networkMode = "host"
        host.pidHost = true
        host.ipcHost = true
        host.utsHost = true
        host.domainname = "ignored.org"
        all.append(Case(name: "host namespaces, rootless", input: host))
        var privileged = base()
        privileged.privileged = true
        privileged.networkMode = "none"
        privileged.shmSize = 1 << 30
        privileged.lowerDirs = []
        privileged.capabilities = ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"] + podmanCapabilities
        all.append(Case(name: "privileged, no layers", input: privileged))
        var masked = base()
        masked.maskedPaths = ["/proc/x"]
        masked.readonlyPaths = []
        masked.pidsLimit = 0
        masked.resources = .init(cpuShares: -5, cpuPeriod: -1)
        all.append(Case(name: "own masked and read-only paths, odd resources", input: masked))
        return all
    }()

    /// Objects as sorted member lists, numbers by value: the same JSON whatever the key order.
    static func canonical(_ json: JSON) -> JSON {
        switch json {
        case .object(let members):
            return .object(members.map { JSON.Member($0.key, canonical($0.value)) }.sorted { $0.key < $1.key })
        case .array(let items): return .array(items.map(canonical))
        case .uint(let n) where n <= UInt64(Int64.max): return .int(Int64(n))
        default: return json
        }
    }

    static func sameJSON(_ new: [UInt8], _ old: [UInt8]) throws -> Bool {
        canonical(try JSONParser.parse(new)) == canonical(try JSONParser.parse(old))
    }

    @Test(arguments: cases)
    func theTypedSpecWritesWhatTheUntypedBuilderWrote(_ c: Case) throws {
        let new = ContainerSpec.build(c.input).bytes
        let old = LegacyContainerSpec.build(c.input, seccomp: nil).bytes
        #expect(try Self.sameJSON(new, old), "\(String(decoding: new, as: UTF8.self))")
        // And the runtime reads back what the service built.
        #expect(try Spec.decode(new, source: "config.json") == ContainerSpec.build(c.input))
    }

    /// The shipped default profile and an inline one, chosen for a few capability sets and
    /// kernels: the OCI module keeps the rules the service's own selection kept.
    @Test(arguments: [(Self.podmanCapabilities, "6.1"), ([], "5.4"),
                      (["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT", "CAP_AUDIT_WRITE"], "4.19")])
    func seccompIsChosenAsTheServiceChoseIt(_ caps: [String], _ kernel: String) throws {
        let version = try #require(SeccompProfile.KernelVersion(release: kernel))
        for text in [DefaultSeccompProfile.json, Self.inlineProfile] {
            let profile = try SeccompProfile.parse(text, source: "p.json")
            var input = Self.base()
            input.capabilities = caps
            input.seccomp = profile.oci(for: .init(capabilities: caps, architecture: "amd64", kernel: version))
            let oldSeccomp = LegacyContainerSpec.oci(try JSONParser.parse(text), capabilities: caps, machine: "x86_64",
                                                     kernel: (Int(version.major), Int(version.minor)))
            let new = ContainerSpec.build(input).bytes
            let old = LegacyContainerSpec.build(input, seccomp: oldSeccomp).bytes
            #expect(try Self.sameJSON(new, Self.withValueTwo(old)), "\(String(decoding: new, as: UTF8.self))")
            #expect(try Spec.decode(new, source: "config.json") == ContainerSpec.build(input))
        }
    }

    static let inlineProfile = #"""
        {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"flags":["SECCOMP_FILTER_FLAG_LOG"],
         "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]}],
         "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},
                     {"name":"ptrace","action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_PTRACE"]}},
                     {"names":["bpf"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_KILL"]}},
                     {"names":["arm_only"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}},
                     {"names":["newer"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"5.8"}},
                     {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}],
                      "errnoRet":1,"comment":"x"}]}
        """#

    /// The old selection copied each rule's `args` as written; the writer always writes
    /// `valueTwo` (0 when the profile leaves it out, which is what every runtime reads).
    static func withValueTwo(_ bytes: [UInt8]) throws -> [UInt8] {
        func fill(_ json: JSON) -> JSON {
            switch json {
            case .object(let members):
                var out = members.map { JSON.Member($0.key, fill($0.value)) }
                if out.contains(where: { $0.key == "op" }) && out.contains(where: { $0.key == "index" })
                    && !out.contains(where: { $0.key == "valueTwo" }) {
                    out.append(JSON.Member("valueTwo", 0))
                }
                return .object(out)
            case .array(let items): return .array(items.map(fill))
            default: return json
            }
        }
        return fill(try JSONParser.parse(bytes)).bytes
    }
}

/// The untyped config.json builder and seccomp selection the service had before the OCI module.
enum LegacyContainerSpec {
    static func mountJSON(_ mount: PlannedMount) -> JSON {
        switch mount.kind {
        case .tmpfs:
            return ["destination": .string(mount.destination), "type": "tmpfs", "source": "tmpfs", "options": JSON(mount.options)]
        case .bind, .volume:
            return ["destination": .string(mount.destination), "type": "bind", "source": .string(mount.source), "options": JSON(mount.options)]
        }
    }

    static func build(_ input: ContainerSpecInput, seccomp: JSON?) -> JSON {
        let caps = JSON(input.capabilities)
        var user: [JSON.Member] = [JSON.Member("uid", .int(Int64(input.user.uid))), JSON.Member("gid", .int(Int64(input.user.gid))),
                                   JSON.Member("umask", 0o022)]
        if !input.user.additionalGids.isEmpty {
            user.append(JSON.Member("additionalGids", .array(input.user.additionalGids.map { .int(Int64($0)) })))
        }
        var args = input.args
        if input.initPath != nil { args = [ContainerSpec.initDestination, "--"] + args }
        var process: [JSON.Member] = [
            JSON.Member("terminal", .bool(input.terminal)),
            JSON.Member("user", .object(user)),
            JSON.Member("args", JSON(args)),
            JSON.Member("env", JSON(input.env)),
            JSON.Member("cwd", .string(input.cwd.isEmpty ? "/" : input.cwd)),
            JSON.Member("capabilities", ["bounding": caps, "effective": caps, "permitted": caps]),
        ]
        if !input.rlimits.isEmpty {
            process.append(JSON.Member("rlimits", .array(input.rlimits.map {
                ["type": .string($0.0), "hard": .uint($0.2), "soft": .uint($0.1)]
            })))
        }
        process.append(JSON.Member("noNewPrivileges", .bool(input.noNewPrivileges)))
        if input.oomScoreAdj != 0 { process.append(JSON.Member("oomScoreAdj", .int(Int64(input.oomScoreAdj)))) }
        if !input.selinuxProcessLabel.isEmpty { process.append(JSON.Member("selinuxLabel", .string(input.selinuxProcessLabel))) }

        var namespaces: [JSON] = []
        if !input.pidHost { namespaces.append(["type": "pid"]) }
        if !input.ipcHost { namespaces.append(["type": "ipc"]) }
        if !input.utsHost { namespaces.append(["type": "uts"]) }
        namespaces.append(["type": "mount"])
        if input.networkMode != "host" { namespaces.append(["type": "network"]) }
        namespaces.append(["type": "cgroup"])
        if input.userNamespace { namespaces.append(["type": "user"]) }

        var linux: [JSON.Member] = [JSON.Member("namespaces", .array(namespaces))]
        if !input.privileged {
            linux.append(JSON.Member("maskedPaths", JSON(input.maskedPaths ?? ContainerSpec.maskedPaths)))
            linux.append(JSON.Member("readonlyPaths", JSON(input.readonlyPaths ?? ContainerSpec.readonlyPaths)))
        } else {
            if let masked = input.maskedPaths { linux.append(JSON.Member("maskedPaths", JSON(masked))) }
            if let readonly = input.readonlyPaths { linux.append(JSON.Member("readonlyPaths", JSON(readonly))) }
        }
        if !input.sysctls.isEmpty {
            linux.append(JSON.Member("sysctl", .object(input.sysctls.keys.sorted().map { JSON.Member($0, .string(input.sysctls[$0]!)) })))
        }
        var resources: [JSON.Member] = []
        if let pids = input.pidsLimit, pids > 0 {
            resources.append(JSON.Member("pids", ["limit": .int(pids)]))
        }
        let r = input.resources
        let memory = [("limit", r.memoryLimit), ("reservation", r.memoryReservation), ("swap", r.memorySwap)]
            .compactMap { key, value in value.map { JSON.Member(key, .int($0)) } }
        if !memory.isEmpty { resources.append(JSON.Member("memory", .object(memory))) }
        var cpu: [JSON.Member] = []
        if let shares = r.cpuShares { cpu.append(JSON.Member("shares", .uint(UInt64(max(shares, 0))))) }
        if let quota = r.cpuQuota { cpu.append(JSON.Member("quota", .int(quota))) }
        if let period = r.cpuPeriod { cpu.append(JSON.Member("period", .uint(UInt64(max(period, 0))))) }
        if !cpu.isEmpty { resources.append(JSON.Member("cpu", .object(cpu))) }
        if !resources.isEmpty { linux.append(JSON.Member("resources", .object(resources))) }
        if !input.selinuxMountLabel.isEmpty { linux.append(JSON.Member("mountLabel", .string(input.selinuxMountLabel))) }
        if let seccomp { linux.append(JSON.Member("seccomp", seccomp)) }

        var members: [JSON.Member] = [
            JSON.Member("ociVersion", "1.1.0"),
            JSON.Member("process", .object(process)),
            JSON.Member("root", ["path": "rootfs", "readonly": .bool(input.readonlyRoot)]),
            JSON.Member("hostname", .string(input.utsHost ? "" : input.hostname)),
        ]
        if !input.domainname.isEmpty && !input.utsHost { members.append(JSON.Member("domainname", .string(input.domainname))) }
        members.append(JSON.Member("mounts", .array(mounts(input))))
        members.append(JSON.Member("linux", .object(linux)))
        if !input.annotations.isEmpty {
            members.append(JSON.Member("annotations", .object(input.annotations.keys.sorted().map {
                JSON.Member($0, .string(input.annotations[$0]!))
            })))
        }
        return .object(members)
    }

    /// The root overlay, the kernel file systems, the container's hostname/hosts/resolv.conf,
    /// then the user's mounts (in the order planned; a mount over /dev/shm replaces ours).
    static func mounts(_ input: ContainerSpecInput) -> [JSON] {
        let dir = input.containerDir
        let userDestinations = Set(input.mounts.map(\.destination))
        var overlay = ["lowerdir=" + input.lowerDirs.joined(separator: ":"),
                       "upperdir=" + dir + "/upper", "workdir=" + dir + "/work"]
        if input.lowerDirs.isEmpty { overlay[0] = "lowerdir=" + dir + "/empty" }
        if input.volatileRoot { overlay.append("volatile") }
        var result: [JSON] = [
            ["destination": "/", "type": "overlay", "source": "overlay", "options": JSON(overlay)],
        ]
        // Without a pid namespace of its own, a rootless container cannot mount a new proc: it binds the host's.
        if input.pidHost {
            result.append(["destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind", "nosuid", "noexec", "nodev"]])
        } else {
            result.append(["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]])
        }
        result += [
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ["destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]],
        ]
        if !userDestinations.contains("/dev/shm") {
            let size = "size=" + String(max(input.shmSize, 1) / 1024) + "k"
            result.append(["destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                           "options": ["nosuid", "noexec", "nodev", "mode=1777", .string(size)]])
        }
        if !input.ipcHost {
            result.append(["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]])
        }
        let sysReadOnly: JSON = input.privileged ? "rw" : "ro"
        if input.networkMode == "host" && input.userNamespace {
            // sysfs needs a network namespace the user namespace owns: bind the host's.
            result.append(["destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", sysReadOnly]])
        } else {
            result.append(["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", sysReadOnly]])
        }
        for (file, destination) in [("hostname", "/etc/hostname"), ("hosts", "/etc/hosts"), ("resolv.conf", "/etc/resolv.conf")]
            where !userDestinations.contains(destination) {
            result.append(["destination": .string(destination), "type": "bind", "source": .string(dir + "/" + file),
                           "options": ["rbind", "rprivate"]])
        }
        if let initPath = input.initPath {
            result.append(["destination": .string(ContainerSpec.initDestination), "type": "bind", "source": .string(initPath),
                           "options": ["bind", "rprivate", "ro"]])
        }
        result += input.mounts.map(Self.mountJSON)
        return result
    }

    /// The OCI object for `capabilities` (CAP_ names) on this machine.
    static func oci(_ profile: JSON, capabilities: [String], machine: String,
                    kernel: (Int, Int)?) -> JSON {
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
