import Platform

/// How a run ended, as the monitor (or skiff-relay) writes it in the run directory's `exit` file
/// and the service reads it when the monitor is gone:
/// `{"ExitCode":N,"FinishedAt":"<RFC 3339>","OOMKilled":false}` (`SKIFF_EXIT_FILE_FORMAT` in
/// skiff_protocol.h is the same text, pinned by a test).
public struct ExitFile: Sendable, Equatable {
    public var exitCode: Int32
    public var finishedAt: String
    public var oomKilled: Bool

    public init(exitCode: Int32, finishedAt: String, oomKilled: Bool = false) {
        self.exitCode = exitCode
        self.finishedAt = finishedAt
        self.oomKilled = oomKilled
    }

    /// Docker's exit code for a wait status: the status, or 128 + the signal.
    public static func exitCode(waitStatus status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// The file's bytes.
    public var bytes: [UInt8] {
        JSON.object([JSON.Member("ExitCode", .int(Int64(exitCode))),
                     JSON.Member("FinishedAt", .string(finishedAt)),
                     JSON.Member("OOMKilled", .bool(oomKilled))]).bytes
    }

    /// nil when `bytes` is no exit file (no ExitCode). A file without FinishedAt or OOMKilled
    /// reads as "" and false.
    public init?(bytes: [UInt8]) {
        guard let json = try? JSONParser.parse(bytes), let code = json["ExitCode"] else { return nil }
        let exitCode: Int32
        switch code {
        case .int(let value): guard let v = Int32(exactly: value) else { return nil }; exitCode = v
        case .uint(let value): guard let v = Int32(exactly: value) else { return nil }; exitCode = v
        default: return nil
        }
        var finishedAt = ""
        if case .string(let text)? = json["FinishedAt"] { finishedAt = text }
        var oomKilled = false
        if case .bool(let flag)? = json["OOMKilled"] { oomKilled = flag }
        self.init(exitCode: exitCode, finishedAt: finishedAt, oomKilled: oomKilled)
    }

    /// The exit file at `path`; nil when there is none or it does not read as one.
    public static func read(_ path: String) -> ExitFile? {
        guard let bytes = try? FileSystem.readFile(path, limit: 4096) else { return nil }
        return ExitFile(bytes: bytes)
    }

    /// Writes it at `path` through a temporary file and a rename.
    public func write(to path: String) throws {
        try FileSystem.writeAtomically(path, bytes, mode: 0o600, durable: false)
    }
}
