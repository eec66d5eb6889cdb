#if canImport(Glibc)
import Glibc
#endif

/// Signal names as `kill` and the OCI runtimes accept them: `TERM`, `SIGTERM`, `15`.
public enum Signals {
    static let names: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
        "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
        "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
        "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
        "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    public static func number(_ text: String) throws -> Int32 {
        if let n = Int32(text) {
            guard n > 0 && n <= 64 else { throw RuntimeError(.invalidArgument, "invalid signal \"\(text)\"") }
            return n
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if name.hasPrefix("RTMIN") || name.hasPrefix("RTMAX") {
            let base: Int32 = name.hasPrefix("RTMIN") ? 34 : 64
            let offset = Int32(name.dropFirst(5)) ?? 0
            let n = base + offset
            if n >= 34 && n <= 64 { return n }
        }
        guard let n = names[name] else { throw RuntimeError(.invalidArgument, "invalid signal \"\(text)\"") }
        return n
    }
}
