import FoundationEssentials

/// The OCI runtime-spec `config.json` (the parts a Linux runtime acts on). Unknown fields are
/// ignored, as the spec asks of runtimes; a field of the wrong type is an error.
public struct Spec: Codable, Sendable, Equatable {
    public var ociVersion: String
    public var process: Process?
    public var root: Root?
    public var hostname: String?
    public var domainname: String?
    public var mounts: [Mount]?
    public var linux: Linux?
    public var annotations: [String: String]?

    public struct Process: Codable, Sendable, Equatable {
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

    public struct User: Codable, Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var umask: UInt32?
        public var additionalGids: [UInt32]?
    }

    public struct Rlimit: Codable, Sendable, Equatable {
        public var type: String
        public var hard: UInt64
        public var soft: UInt64
    }

    public struct Root: Codable, Sendable, Equatable {
        public var path: String
        public var readonly: Bool?
    }

    public struct Mount: Codable, Sendable, Equatable {
        public var destination: String
        public var type: String?
        public var source: String?
        public var options: [String]?
    }

    public struct Linux: Codable, Sendable, Equatable {
        public var namespaces: [Namespace]?
        public var uidMappings: [Mapping]?
        public var gidMappings: [Mapping]?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var rootfsPropagation: String?
        public var mountLabel: String?
        public var sysctl: [String: String]?
        public var seccomp: Seccomp?
    }

    public struct Namespace: Codable, Sendable, Equatable {
        public var type: String
        public var path: String?
    }

    public struct Mapping: Codable, Sendable, Equatable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32
    }

    /// OCI `linux.seccomp`: a profile already resolved for this container (no includes/excludes).
    public struct Seccomp: Codable, Sendable, Equatable {
        public var defaultAction: String
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]?
        public var flags: [String]?
        public var syscalls: [Syscall]?

        public struct Syscall: Codable, Sendable, Equatable {
            public var names: [String]
            public var action: String
            public var errnoRet: UInt32?
            public var args: [Arg]?
        }

        public struct Arg: Codable, Sendable, Equatable {
            public var index: UInt32
            public var value: UInt64
            public var valueTwo: UInt64?
            public var op: String
        }
    }
}

extension Spec {
    /// Reads `<bundle>/config.json`.
    public static func load(bundle: String) throws -> Spec {
        let path = bundle + "/config.json"
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw RuntimeError(.notFound, "bundle \(bundle): cannot read config.json")
        }
        return try decode(data, source: path)
    }

    public static func decode(_ data: Data, source: String) throws -> Spec {
        do {
            return try JSONDecoder().decode(Spec.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw RuntimeError(.invalidArgument, "\(source): missing \(path(context.codingPath + [key]))")
        } catch let DecodingError.typeMismatch(type, context) {
            throw RuntimeError(.invalidArgument, "\(source): \(path(context.codingPath)): expected \(type)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw RuntimeError(.invalidArgument, "\(source): \(path(context.codingPath)): expected \(type), found null")
        } catch let DecodingError.dataCorrupted(context) {
            throw RuntimeError(.invalidArgument, "\(source): \(context.debugDescription)")
        } catch {
            throw RuntimeError(.invalidArgument, "\(source): \(error)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
    }
}
