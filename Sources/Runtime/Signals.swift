import Platform

/// Signal names as `kill` and the OCI runtimes accept them: `TERM`, `SIGTERM`, `15`.
public enum Signals {
    public static func number(_ text: String) throws -> Int32 {
        guard let n = SignalNames.number(text) else {
            throw RuntimeError(.invalidArgument, "invalid signal \"\(text)\"")
        }
        return n
    }
}
