/// Facts about a process from /proc, for telling a live process from a reused pid.
public enum ProcessStat {
    /// Field 22 of /proc/PID/stat (start time in clock ticks) and the state letter; nil if gone.
    public static func read(_ pid: Int32) -> (startTime: UInt64, state: Character)? {
        guard pid > 0, let bytes = try? FileSystem.readFile("/proc/\(pid)/stat", limit: 4096) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3); start time is field 22 -> index 19.
        guard fields.count > 19, let start = UInt64(fields[19]), let state = fields[0].first else { return nil }
        return (start, state)
    }

    /// Alive and the same process (start time matches); zombies count as gone.
    public static func isAlive(_ pid: Int32, startTime: UInt64) -> Bool {
        guard let info = read(pid) else { return false }
        return info.startTime == startTime && info.state != "Z" && info.state != "X"
    }
}
