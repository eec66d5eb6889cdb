#if canImport(Glibc)
import Glibc
#endif

/// Facts about a process from /proc, for telling a live process from a reused pid.
public enum ProcessStat {
    /// What a look at a process found. Only `gone` is a conclusion: the process does not exist
    /// (ENOENT, ESRCH), is a zombie, or the pid is someone else's now (another start time).
    /// `unknown`: the look itself failed (no descriptor left, EMFILE; no memory; a torn read):
    /// nothing may be concluded from it, and a caller changes nothing.
    public enum Liveness: Equatable, Sendable {
        case alive
        case gone
        case unknown(errno: Int32)
    }

    /// Field 22 of /proc/PID/stat (start time in clock ticks) and the state letter; nil if gone
    /// or unreadable (`probe` tells the two apart).
    public static func read(_ pid: Int32) -> (startTime: UInt64, state: Character)? {
        guard case .success(let info) = look(pid) else { return nil }
        return info
    }

    /// Alive and the same process (start time matches), or not known to be gone: a look that
    /// failed for want of a resource counts as alive, so no caller takes a live process for a
    /// dead one (`probe` says which it was).
    public static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool {
        probe(pid, startTime: startTime) != .gone
    }

    /// Whether the process `pid` that started at `startTime` still runs; zombies count as gone.
    public static func probe(_ pid: Int32, startTime: UInt64) -> Liveness {
        guard pid > 0 else { return .gone }
        switch look(pid) {
        case .success(let info):
            return info.startTime == startTime && info.state != "Z" && info.state != "X" ? .alive : .gone
        case .failure(let error) where error.errno == ENOENT || error.errno == ESRCH:
            return .gone
        case .failure(let error):
            // No descriptor to read /proc with: kill(0) needs none and tells at least whether
            // the pid exists at all.
            if Glibc.kill(pid, 0) != 0 && errno == ESRCH { return .gone }
            return .unknown(errno: error.errno)
        }
    }

    /// The parent's pid (field 4 of /proc/PID/stat); nil if gone or unreadable.
    public static func parent(of pid: Int32) -> Int32? {
        guard pid > 0, let bytes = try? FileSystem.readFile("/proc/\(pid)/stat", limit: 4096) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// Reads and parses /proc/PID/stat; a failure keeps the errno of the step that failed
    /// (EINVAL: the text could not be parsed).
    private static func look(_ pid: Int32) -> Result<(startTime: UInt64, state: Character), SystemError> {
        let path = "/proc/\(pid)/stat"
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path, limit: 4096)
        } catch {
            return .failure(error)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else {
            return .failure(SystemError(errno: EINVAL, operation: "parse", path: path))
        }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3); start time is field 22 -> index 19.
        guard fields.count > 19, let start = UInt64(fields[19]), let state = fields[0].first else {
            return .failure(SystemError(errno: EINVAL, operation: "parse", path: path))
        }
        return .success((start, state))
    }
}
