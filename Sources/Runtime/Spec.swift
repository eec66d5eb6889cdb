import Platform

/// The OCI runtime-spec `config.json` (the parts a Linux runtime acts on). Unknown fields are
/// ignored, as the spec asks of runtimes; a field of the wrong type is an error.
public struct Spec: Sendable, Equatable {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var linux: Linux?
    public var annotations: [String: String]?

    public struct Process: Sendable, Equatable {
        public var terminal: Bool?
        public var user: User
        public var args: [String]?
        public var env: [String]?
        public var cwd: String
        public var capabilities: OCICapabilities?
        public var rlimits: [Rlimit]?
        public var noNewPrivileges: Bool?
        public var oomScoreAdj: Int?
        public var selinuxLabel: String?
        public var apparmorProfile: String?
    }

    public struct User: Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var umask: UInt32?
        public var additionalGids: [UInt32]?
    }

    public struct Rlimit: Sendable, Equatable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64
    }

    public struct Root: Sendable, Equatable {
        public var path: String
        public var readonly: Bool?
    }

    public struct Mount: Sendable, Equatable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?
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
        /// OCI `linux.seccomp`, kept as JSON: the seccomp profile reader checks it.
        public var seccomp: JSON?
        /// OCI `linux.resources`: applied through cgroup v1 when the runtime runs as root.
        public var resources: Resources?
        /// OCI `linux.cgroupsPath`: the container's cgroup under each hierarchy's root
        /// (default `/skiff/<id>`).
        public var cgroupsPath: String?
    }

    /// The parts of OCI `linux.resources` Skiff applies (cgroup v1 files in parentheses).
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

        public init(pidsLimit: Int64? = nil, memoryLimit: Int64? = nil, memoryReservation: Int64? = nil,
                    memorySwap: Int64? = nil, cpuShares: UInt64? = nil, cpuQuota: Int64? = nil, cpuPeriod: UInt64? = nil) {
            self.pidsLimit = pidsLimit
            self.memoryLimit = memoryLimit
            self.memoryReservation = memoryReservation
            self.memorySwap = memorySwap
            self.cpuShares = cpuShares
            self.cpuQuota = cpuQuota
            self.cpuPeriod = cpuPeriod
        }
    }

    public struct Namespace: Sendable, Equatable {
        public var type: String
        public var path: String?
    }

    public struct Mapping: Sendable, Equatable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32
    }

}

extension Spec {
    /// Reads `<bundle>/config.json`.
    public static func load(bundle: String) throws -> Spec {
        let path = bundle + "/config.json"
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            throw RuntimeError(.notFound, "bundle \(bundle): cannot read config.json: \(error.text)")
        }
        return try decode(bytes, source: path)
    }

    public static func decode(_ bytes: [UInt8], source: String) throws -> Spec {
        let json: JSON
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw RuntimeError(.invalidArgument, "\(source): not valid JSON: \(error.message)")
        }
        return try SpecReader(source: source).spec(json)
    }

    /// An OCI process object on its own (`exec --process FILE`).
    public static func decodeProcess(_ bytes: [UInt8], source: String) throws -> Process {
        let json: JSON
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw RuntimeError(.invalidArgument, "\(source): not valid JSON: \(error.message)")
        }
        return try SpecReader(source: source).process(json, "process")
    }
}
