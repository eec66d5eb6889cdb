import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// What the runtime remembers of a container, in `<root>/<id>/state.json`.
public struct ContainerState: Codable, Sendable, Equatable {
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

    /// The OCI status, worked out from the process and the start fifo.
    public enum Status: String, Sendable { case creating, created, running, stopped }
}

/// The OCI `state` output.
public struct StateOutput: Encodable, Sendable {
    public var ociVersion: String
    public var id: String
    public var status: String
    public var pid: Int32
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var annotations: [String: String]?
}

/// One container's directory under the state root.
struct StateDirectory {
    let path: String

    var stateFile: String { path + "/state.json" }
    var startFifo: String { path + "/exec.fifo" }

    func read(id: String) throws -> ContainerState {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: stateFile))
        } catch {
            throw RuntimeError(.notFound, "container \"\(id)\" does not exist")
        }
        do {
            return try JSONDecoder().decode(ContainerState.self, from: data)
        } catch {
            throw RuntimeError(.system, "container \"\(id)\": \(stateFile) cannot be read: \(error)")
        }
    }

    /// Written to a temporary file, synced, then renamed over the old one.
    func write(_ state: ContainerState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(state)
        try FileIO.writeAtomically(stateFile, Array(data))
    }
}

/// Small file operations with errors that name the path.
enum FileIO {
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw system("open \(temporary)") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let error = system("write \(temporary)")
                close(fd)
                throw error
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let error = system("fsync \(temporary)")
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw system("rename \(temporary)") }
    }

    static func read(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    static func system(_ what: String, _ code: RuntimeError.Code = .system) -> RuntimeError {
        let e = errno
        return RuntimeError(code, "\(what): \(String(cString: strerror(e)))", errno: e)
    }

    /// `rm -r` without following symlinks.
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            if let dir = opendir(path) {
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                    }
                    if name == "." || name == ".." { continue }
                    removeTree(path + "/" + name)
                }
                closedir(dir)
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// Facts about a process from /proc.
enum ProcessInfo {
    /// Field 22 of /proc/PID/stat (start time in clock ticks) and the state letter; nil if gone.
    static func stat(_ pid: Int32) -> (startTime: UInt64, state: Character)? {
        guard pid > 0, let bytes = FileIO.read("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3); start time is field 22 -> index 19.
        guard fields.count > 19, let start = UInt64(fields[19]), let state = fields[0].first else { return nil }
        return (start, state)
    }

    /// Alive and the same process (start time matches), zombies count as gone.
    static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool {
        guard let info = stat(pid) else { return false }
        return info.startTime == startTime && info.state != "Z" && info.state != "X"
    }
}
