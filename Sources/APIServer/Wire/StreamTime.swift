import ContainerLogs
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The `since` and `until` values of `logs` and `events`: what moby's server takes, unix
/// seconds with an optional fraction (`1700000000`, `1700000000.123456789`, what the docker CLI
/// sends after converting the user's value), and also RFC 3339 times
/// (`2024-01-02T03:04:05.5Z`, `...+02:00`).
enum StreamTime {
    /// nil when malformed.
    static func parse(_ text: String) -> timespec? {
        if let time = parseUnix(text) { return time }
        if text.contains("-") || text.contains("T") { return LogRecord.parseTime(Substring(text)) }
        return nil
    }

    /// moby's `parseTimestamp`: `<seconds>[.<digits>]`, the fraction scaled to nanoseconds
    /// (digits past the ninth dropped).
    static func parseUnix(_ text: String) -> timespec? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let seconds = Int64(first) else { return nil }
        var nanos = 0
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            var digits = 0
            for c in fraction.utf8 where digits < 9 {
                nanos = nanos * 10 + Int(c - 0x30)
                digits += 1
            }
            while digits < 9 {
                nanos *= 10
                digits += 1
            }
        }
        return timespec(tv_sec: Int(seconds), tv_nsec: nanos)
    }

    /// A query parameter as a time; absent or empty is nil, malformed is moby's 400.
    static func query(_ request: Request, _ name: String) throws(EngineError) -> timespec? {
        guard let value = request.queryValue(name), !value.isEmpty else { return nil }
        guard let time = parse(value) else {
            throw EngineError(.invalidArgument, "invalid value for \"\(name)\": failed to parse value as time: \"\(value)\"")
        }
        return time
    }

    static func nanoseconds(_ time: timespec) -> Int64 {
        Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    static func isAfter(_ a: timespec, _ b: timespec) -> Bool {
        nanoseconds(a) > nanoseconds(b)
    }

    /// One nanosecond later (moby's `until` includes the instant itself; `LogReader` excludes it).
    static func nextNanosecond(_ time: timespec) -> timespec {
        time.tv_nsec >= 999_999_999 ? timespec(tv_sec: time.tv_sec + 1, tv_nsec: 0)
            : timespec(tv_sec: time.tv_sec, tv_nsec: time.tv_nsec + 1)
    }
}
