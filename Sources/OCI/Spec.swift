import UserNamespace

/// The OCI runtime-spec `config.json` (the parts a Linux runtime acts on): one type for the
/// engine that writes a bundle (`Spec+Writing.swift`) and the runtime that reads it
/// (`SpecReader`). Reading ignores unknown fields, as the spec asks of runtimes; a field of the
/// wrong type is an error.
public struct Spec: Sendable, Equatable {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var linux: Linux?
    public var annotations: [String: String]?

    /// The runtime-spec version Skiff writes.
    public static let version = "1.1.0"

    public init(ociVersion: String = Spec.version, process: Process? = nil, root: Root? = nil, hostname: String? = nil,
                domainname: String? = nil, mounts: [Mount]? = nil, linux: Linux? = nil,
                annotations: [String: String]? = nil) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.linux = linux
        self.annotations = annotations
    }

    public struct Process: Sendable, Equatable {
        public var terminal: Bool?
        public var user: User
        public var args: [String]?
        public var env: [String]?
        public var cwd: String
        public var capabilities: Capabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?
        public var oomScoreAdj: Int?
        public var selinuxLabel: String?
        public var apparmorProfile: String?

        public init(terminal: Bool? = nil, user: User, args: [String]? = nil, env: [String]? = nil, cwd: String,
                    capabilities: Capabilities? = nil, rlimits: [Rlimit]? = nil, noNewPrivileges: Bool? = nil,
                    oomScoreAdj: Int? = nil, selinuxLabel: String? = nil, apparmorProfile: String? = nil) {
            self.terminal = terminal
            self.user = user
            self.args = args
            self.env = env
            self.cwd = cwd
            self.capabilities = capabilities
            self.rlimits = rlimits
            self.noNewPrivileges = noNewPrivileges
            self.oomScoreAdj = oomScoreAdj
            self.selinuxLabel = selinuxLabel
            self.apparmorProfile = apparmorProfile
        }
    }

    public struct User: Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var umask: UInt32?
        public var additionalGids: [UInt32]?

        public init(uid: UInt32, gid: UInt32, umask: UInt32? = nil, additionalGids: [UInt32]? = nil) {
            self.uid = uid
            self.gid = gid
            self.umask = umask
            self.additionalGids = additionalGids
        }
    }

    /// OCI `process.capabilities`: five lists of `CAP_` names, each optional.
    public struct Capabilities: Sendable, Equatable {
        public var bounding: [String]?
        public var effective: [String]?
        public var inheritable: [String]?
        public var permitted: [String]?
        public var ambient: [String]?

        public init(bounding: [String]? = nil, effective: [String]? = nil, inheritable: [String]? = nil,
                    permitted: [String]? = nil, ambient: [String]? = nil) {
            self.bounding = bounding
            self.effective = effective
            self.inheritable = inheritable
            self.permitted = permitted
            self.ambient = ambient
        }
    }

    public struct Rlimit: Sendable, Equatable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64

        public init(type: String, hard: UInt64, soft: UInt64) {
            self.type = type
            self.hard = hard
            self.soft = soft
        }
    }

    public struct Root: Sendable, Equatable {
        public var path: String
        public var readonly: Bool?

        public init(path: String, readonly: Bool? = nil) {
            self.path = path
            self.readonly = readonly
        }
    }

    public struct Mount: Sendable, Equatable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?

        public init(destination: String, type: String? = nil, source: String? = nil, options: [String]? = nil) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
        }
    }

    public struct Linux: Sendable, Equatable {
        public var namespaces: [Namespace]?
        public var uidMappings: [Mapping]?
        public var gidMappings: [Mapping]?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var rootfsPropagation: String?
        public var mountLabel: String?
        public var sysctl: [String: String]?
        /// OCI `linux.seccomp`: the rules already chosen for this container.
        public var seccomp: Seccomp?
        /// OCI `linux.resources`: applied through cgroup v1 when the runtime runs as root.
        public var resources: Resources?
        /// OCI `linux.cgroupsPath`: the container's cgroup under each hierarchy's root
        /// (default `/skiff/<id>`).
        public var cgroupsPath: String?

        public init(namespaces: [Namespace]? = nil, uidMappings: [Mapping]? = nil, gidMappings: [Mapping]? = nil,
                    maskedPaths: [String]? = nil, readonlyPaths: [String]? = nil, rootfsPropagation: String? = nil,
                    mountLabel: String? = nil, sysctl: [String: String]? = nil, seccomp: Seccomp? = nil,
                    resources: Resources? = nil, cgroupsPath: String? = nil) {
            self.namespaces = namespaces
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
            self.rootfsPropagation = rootfsPropagation
            self.mountLabel = mountLabel
            self.sysctl = sysctl
            self.seccomp = seccomp
            self.resources = resources
            self.cgroupsPath = cgroupsPath
        }
    }

    /// OCI `linux.seccomp`: a filter with no conditions left. An engine makes it from a profile
    /// (`SeccompProfile.oci(for:)`), keeping the rules that apply to the container.
    public struct Seccomp: Sendable, Equatable {
        public var defaultAction: SeccompProfile.Action
        public var defaultErrnoRet: UInt16?
        /// `SCMP_ARCH_*` names to add besides the native one.
        public var architectures: [String]
        /// `SECCOMP_FILTER_FLAG_*` names.
        public var flags: [String]
        public var syscalls: [Syscall]

        public init(defaultAction: SeccompProfile.Action, defaultErrnoRet: UInt16? = nil, architectures: [String] = [],
                    flags: [String] = [], syscalls: [Syscall] = []) {
            self.defaultAction = defaultAction
            self.defaultErrnoRet = defaultErrnoRet
            self.architectures = architectures
            self.flags = flags
            self.syscalls = syscalls
        }

        /// One entry of `syscalls`: the profile's rule without its comment and conditions.
        public struct Syscall: Sendable, Equatable {
            public var names: [String]
            public var action: SeccompProfile.Action
            public var errnoRet: UInt16?
            public var args: [SeccompProfile.Argument]

            public init(names: [String], action: SeccompProfile.Action, errnoRet: UInt16? = nil,
                        args: [SeccompProfile.Argument] = []) {
                self.names = names
                self.action = action
                self.errnoRet = errnoRet
                self.args = args
            }
        }
    }

    /// The parts of OCI `linux.resources` Skiff applies (cgroup v1 files in parentheses; v2's: Runtime's CgroupV2).
    public struct Resources: Sendable, Equatable {
        /// `pids.limit` (pids.max); 0 or less: no limit.
        public var pidsLimit: Int64?
        /// `memory.limit` (memory.limit_in_bytes); -1: no limit.
        public var memoryLimit: Int64?
        /// `memory.reservation` (memory.soft_limit_in_bytes).
        public var memoryReservation: Int64?
        /// `memory.swap`: memory plus swap (memory.memsw.limit_in_bytes); -1: no limit.
        public var memorySwap: Int64?
        /// `cpu.shares` (cpu.shares).
        public var cpuShares: UInt64?
        /// `cpu.quota` (cpu.cfs_quota_us); -1: no limit.
        public var cpuQuota: Int64?
        /// `cpu.period` (cpu.cfs_period_us).
        public var cpuPeriod: UInt64?
        /// `cpu.cpus` (cpuset.cpus), a CPU list such as "0-1,3".
        public var cpusetCpus: String?
        /// `cpu.mems` (cpuset.mems), a memory node list.
        public var cpusetMems: String?
        /// `blockIO.weight` (blkio.weight; v2 io.weight after conversion), 10..1000.
        public var blkioWeight: UInt16?

        public init(pidsLimit: Int64? = nil, memoryLimit: Int64? = nil, memoryReservation: Int64? = nil,
                    memorySwap: Int64? = nil, cpuShares: UInt64? = nil, cpuQuota: Int64? = nil, cpuPeriod: UInt64? = nil,
                    cpusetCpus: String? = nil, cpusetMems: String? = nil, blkioWeight: UInt16? = nil) {
            self.cpusetCpus = cpusetCpus
            self.cpusetMems = cpusetMems
            self.blkioWeight = blkioWeight
            self.pidsLimit = pidsLimit
            self.memoryLimit = memoryLimit
            self.memoryReservation = memoryReservation
            self.memorySwap = memorySwap
            self.cpuShares = cpuShares
            self.cpuQuota = cpuQuota
            self.cpuPeriod = cpuPeriod
        }

        /// No member set: the writer leaves `linux.resources` out.
        public var isEmpty: Bool { self == Resources() }
    }

    public struct Namespace: Sendable, Equatable {
        public var type: String
        public var path: String?

        public init(type: String, path: String? = nil) {
            self.type = type
            self.path = path
        }
    }

    /// An entry of `uidMappings`/`gidMappings`: the runtime writes it as it is.
    public typealias Mapping = IDMapping
}
