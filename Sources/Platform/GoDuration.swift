/// Go's `time.ParseDuration`, for the durations Docker's clients and Dockerfiles write
/// (`30s`, `1m30s`, `1.5h`, `500ms`, `-2us`): a sign, then numbers each with a unit (ns, us, µs,
/// μs, ms, s, m, h); `0` alone needs none. nil for anything else, or beyond Int64 nanoseconds.
public enum GoDuration {
    public static func nanoseconds(_ text: String) -> Int64? {
        var s = Substring(text)
        var negative = false
        if let sign = s.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            s = s.dropFirst()
        }
        if s == "0" { return 0 }
        guard !s.isEmpty else { return nil }
        var exact: Int64 = 0
        while !s.isEmpty {
            let whole = s.prefix { $0.isASCII && $0.isNumber }
            s = s.dropFirst(whole.count)
            var fraction: Substring = ""
            if s.first == "." {
                s = s.dropFirst()
                fraction = s.prefix { $0.isASCII && $0.isNumber }
                s = s.dropFirst(fraction.count)
            }
            guard !whole.isEmpty || !fraction.isEmpty else { return nil }
            let unitText = s.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            s = s.dropFirst(unitText.count)
            guard let unit = units[String(unitText)] else { return nil }
            guard let wholeValue = whole.isEmpty ? 0 : Int64(whole) else { return nil }
            let (scaled, overflow) = wholeValue.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            var part = scaled
            if !fraction.isEmpty, let digits = Double("0." + fraction) {
                part += Int64(digits * Double(unit))
            }
            let (sum, sumOverflow) = exact.addingReportingOverflow(part)
            guard !sumOverflow else { return nil }
            exact = sum
        }
        return negative ? -exact : exact
    }

    static let units: [String: Int64] = [
        "ns": 1, "us": 1_000, "\u{00B5}s": 1_000, "\u{03BC}s": 1_000, "ms": 1_000_000,
        "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]
}
