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
        // Written as bytes into one buffer: a list of a thousand objects formats a thousand of
        // these, and string concatenation made it an eighth of such an answer's time.
        var text: [UInt8] = []
        text.reserveCapacity(36)
        func digits(_ value: Int, _ width: Int) {   // value >= 0, at least `width` digits
            var divisor = 1, count = 1
            while count < width || value / divisor >= 10 { divisor *= 10; count += 1 }
            var rest = value
            while divisor > 0 {
                text.append(0x30 + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); text.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        if ts.tv_nsec > 0 {
            text.append(UInt8(ascii: "."))
            digits(Int(ts.tv_nsec), 9)
            while text.last == UInt8(ascii: "0") { text.removeLast() }
        }
        let offset = parts.tm_gmtoff
        if offset == 0 {
            text.append(UInt8(ascii: "Z"))
        } else {
            let minutes = abs(offset) / 60
            text.append(UInt8(ascii: offset < 0 ? "-" : "+"))
            digits(minutes / 60, 2); text.append(UInt8(ascii: ":"))
            digits(minutes % 60, 2)
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Unix seconds of an RFC 3339 time (`2024-01-02T03:04:05.123Z`, `...+02:00`); the fraction
    /// is dropped. `nil` when malformed.
    public static func parseRFC3339(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for c in b[from..<(from + count)] {
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
              b[13] == 0x3A, b[16] == 0x3A,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        if i < b.count, b[i] == 0x2E {
            i += 1
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 0x5A || b[i] == 0x7A {
            guard i + 1 == b.count else { return nil }
        } else if b[i] == 0x2B || b[i] == 0x2D, i + 6 == b.count, b[i + 3] == 0x3A,
                  let h = number(i + 1, 2), let m = number(i + 4, 2) {
            offset = (h * 60 + m) * 60 * (b[i] == 0x2B ? 1 : -1)
        } else {
            return nil
        }
        // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146097 + dayOfEra - 719468
        return Int64(days * 86400 + hour * 3600 + minute * 60 + second - offset)
    }
}
