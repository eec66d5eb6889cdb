import Platform

#if canImport(Glibc)
import Glibc
#endif

/// What the runtime remembers of a container, in `<root>/<id>/state.json`.
public struct ContainerState: Sendable, Equatable {
    public var ociVersion: String
    public var id: String
    public var pid: Int32
    /// The process's start time (field 22 of /proc/PID/stat), so that a recycled pid is never
    /// taken for the container.
    public var pidStartTime: UInt64
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var annotations: [String: String]?
    /// The container's cgroup directories, controller -> path (`freezer` ->
    /// `/sys/fs/cgroup/freezer/skiff/<id>`); nil when it has none (rootless, or no cgroup v1).
    /// The service reads `cgroups.freezer` to pause with the freezer.
    public var cgroups: [String: String]?

    /// The OCI status, worked out from the process and the start fifo.
    public enum Status: String, Sendable { case creating, created, running, stopped }

    var json: JSON {
        var members: [JSON.Member] = [
            .init("ociVersion", JSON(ociVersion)), .init("id", JSON(id)), .init("pid", .int(Int64(pid))),
            .init("pidStartTime", .uint(pidStartTime)), .init("bundle", JSON(bundle)),
            .init("rootfs", JSON(rootfs)), .init("created", JSON(created)),
        ]
        if let annotations {
            members.append(.init("annotations", .object(annotations.sorted { $0.key < $1.key }
                .map { JSON.Member($0.key, JSON($0.value)) })))
        }
        if let cgroups, !cgroups.isEmpty {
            members.append(.init("cgroups", .object(cgroups.sorted { $0.key < $1.key }
                .map { JSON.Member($0.key, JSON($0.value)) })))
        }
        return .object(members)
    }

    init(ociVersion: String, id: String, pid: Int32, pidStartTime: UInt64, bundle: String, rootfs: String,
         created: String, annotations: [String: String]?, cgroups: [String: String]? = nil) {
        self.ociVersion = ociVersion
        self.id = id
        self.pid = pid
        self.pidStartTime = pidStartTime
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.annotations = annotations
        self.cgroups = cgroups
    }

    init?(json: JSON) {
        func text(_ key: String) -> String? { if case .string(let s)? = json[key] { return s }; return nil }
        func number(_ key: String) -> UInt64? {
            switch json[key] {
            case .int(let n)?: return n >= 0 ? UInt64(n) : nil
            case .uint(let n)?: return n
            default: return nil
            }
        }
        guard let ociVersion = text("ociVersion"), let id = text("id"), let pid = number("pid"),
              let start = number("pidStartTime"), let bundle = text("bundle"), let rootfs = text("rootfs"),
              let created = text("created"), pid <= UInt64(Int32.max) else { return nil }
        var annotations: [String: String]?
        if case .object(let members)? = json["annotations"] {
            annotations = [:]
            for member in members { if case .string(let v) = member.value { annotations?[member.key] = v } }
        }
        var cgroups: [String: String]?
        if case .object(let members)? = json["cgroups"] {
            cgroups = [:]
            for member in members { if case .string(let v) = member.value { cgroups?[member.key] = v } }
        }
        self.init(ociVersion: ociVersion, id: id, pid: Int32(pid), pidStartTime: start, bundle: bundle,
                  rootfs: rootfs, created: created, annotations: annotations, cgroups: cgroups)
    }
}

/// The OCI `state` output.
public struct StateOutput: Sendable {
    public var ociVersion: String
    public var id: String
    public var status: String
    public var pid: Int32
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var annotations: [String: String]?

    public var json: JSON {
        var members: [JSON.Member] = [
            .init("ociVersion", JSON(ociVersion)), .init("id", JSON(id)), .init("status", JSON(status)),
            .init("pid", .int(Int64(pid))), .init("bundle", JSON(bundle)), .init("rootfs", JSON(rootfs)),
            .init("created", JSON(created)),
        ]
        if let annotations, !annotations.isEmpty {
            members.append(.init("annotations", .object(annotations.sorted { $0.key < $1.key }
                .map { JSON.Member($0.key, JSON($0.value)) })))
        }
        return .object(members)
    }
}

/// One container's directory under the state root.
struct StateDirectory {
    let path: String

    var stateFile: String { path + "/state.json" }
    var startFifo: String { path + "/exec.fifo" }

    func read(id: String) throws -> ContainerState {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(stateFile)
        } catch {
            throw RuntimeError(.notFound, "container \"\(id)\" does not exist")
        }
        guard let json = try? JSONParser.parse(bytes), let state = ContainerState(json: json) else {
            throw RuntimeError(.system, "container \"\(id)\": \(stateFile) cannot be read")
        }
        return state
    }

    /// Written to a temporary file, then renamed over the old one: a crash of the runtime leaves
    /// the old state or the new. Not synced: the state describes processes, which a power cut
    /// ends anyway (and the state root is normally a tmpfs under /run).
    func write(_ state: ContainerState) throws {
        try FileIO.writeAtomically(stateFile, state.json.bytes, durable: false)
    }
}

/// The shared file operations, with errors as the runtime reports them.
enum FileIO {
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600, durable: Bool = true) throws {
        do {
            try FileSystem.writeAtomically(path, bytes, mode: mode, durable: durable)
        } catch {
            throw RuntimeError(.system, error.description, errno: error.errno)
        }
    }

    /// A small file's bytes, or nil when it cannot be read.
    static func read(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        try? FileSystem.readFile(path, limit: limit)
    }

    static func system(_ what: String, _ code: RuntimeError.Code = .system) -> RuntimeError {
        let e = errno
        return RuntimeError(code, "\(what): \(String(cString: strerror(e)))", errno: e)
    }

    static func removeTree(_ path: String) {
        FileSystem.removeTree(path)
    }
}

/// Facts about a process from /proc (Platform's ProcessStat).
enum ProcessInfo {
    static func stat(_ pid: Int32) -> (startTime: UInt64, state: Character)? { ProcessStat.read(pid) }
    static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool { ProcessStat.isAlive(pid, startTime: startTime) }
}
