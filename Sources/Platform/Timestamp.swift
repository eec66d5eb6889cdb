#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock and monotonic time without Foundation.
public enum Timestamp {
    public static func now() -> timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts
    }

    /// Monotonic nanoseconds, for timers.
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// `2006-01-02T15:04:05.999999999Z07:00` as Go's RFC3339Nano prints it (trailing zeros of
    /// the fraction dropped), in local time or (`utc`) in UTC with `Z`.
    public static func rfc3339Nano(_ ts: timespec, utc: Bool = false) -> String {
        var seconds = ts.tv_sec
        var parts = tm()
        if utc {
            gmtime_r(&seconds, &parts)
        } else {
            localtime_r(&seconds, &parts)
        }
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var text = pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-"
            + pad(Int(parts.tm_mday), 2) + "T" + pad(Int(parts.tm_hour), 2) + ":"
            + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
        if ts.tv_nsec > 0 {
            var fraction = pad(Int(ts.tv_nsec), 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        let offset = parts.tm_gmtoff
        if offset == 0 {
            text += "Z"
        } else {
            let minutes = abs(offset) / 60
            text += (offset < 0 ? "-" : "+") + pad(minutes / 60, 2) + ":" + pad(minutes % 60, 2)
        }
        return text
    }
}
