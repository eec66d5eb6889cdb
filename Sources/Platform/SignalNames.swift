/// Signal names as `kill`, the OCI runtimes and Docker accept them: `TERM`, `SIGTERM`, `15`,
/// `RTMIN+3`. Shared by the runtime and the API (stop signals, `/kill?signal=`).
public enum SignalNames {
    static let names: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
        "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
        "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
        "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
        "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    /// The signal's number, or nil when `text` names none (numbers 1-64).
    public static func number(_ text: String) -> Int32? {
        if let n = Int32(text) {
            return n > 0 && n <= 64 ? n : nil
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if name.hasPrefix("RTMIN") || name.hasPrefix("RTMAX") {
            let base: Int32 = name.hasPrefix("RTMIN") ? 34 : 64
            let rest = name.dropFirst(5)
            let offset = rest.isEmpty ? 0 : (Int32(rest) ?? -100)
            let n = base + offset
            return n >= 34 && n <= 64 ? n : nil
        }
        return names[name]
    }
}
