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
