/// What the service sends the monitor on the sync socket (one datagram each; docs/containers.md).
public enum ServiceMessage: Sendable, Equatable {
    /// To a warm monitor (`skiff-monitor --warm`): its container's arguments.
    case arguments(WarmArguments)
    /// The created container may run its program.
    case start

    public var bytes: [UInt8] {
        switch self {
        case .arguments(let arguments): return arguments.bytes
        case .start: return Array("start".utf8)
        }
    }

    /// nil for a datagram that is none of these.
    public init?(bytes: some Collection<UInt8>) {
        if bytes.elementsEqual("start".utf8) {
            self = .start
        } else if let arguments = WarmArguments(bytes: bytes) {
            self = .arguments(arguments)
        } else {
            return nil
        }
    }
}

/// What the monitor answers on the sync socket.
public enum MonitorMessage: Sendable, Equatable {
    /// The container is created (its process waits for `start`).
    case created(pid: Int32)
    /// The program runs.
    case started
    /// Creating or starting failed; the monitor goes away after it.
    case failed(StartFailure)

    /// `created <pid>`, `started`, `error <step> <errno> <message>`.
    public var bytes: [UInt8] {
        switch self {
        case .created(let pid): return Array("created \(pid)".utf8)
        case .started: return Array("started".utf8)
        case .failed(let failure):
            return Array("error \(failure.step.rawValue) \(failure.errno) \(failure.message)".utf8)
        }
    }

    /// nil for a datagram that is none of these.
    public init?(bytes: some Collection<UInt8>) {
        let text = String(decoding: bytes, as: UTF8.self)
        if text == "started" {
            self = .started
        } else if text.hasPrefix("created "), let pid = Int32(text.dropFirst("created ".count)), pid > 0 {
            self = .created(pid: pid)
        } else if text.hasPrefix("error ") {
            let fields = text.dropFirst("error ".count).split(separator: " ", maxSplits: 2,
                                                              omittingEmptySubsequences: false)
            guard fields.count == 3, let step = StartFailure.Step(rawValue: String(fields[0])),
                  let errno = Int32(fields[1]), errno >= 0 else { return nil }
            self = .failed(StartFailure(step, errno: errno, String(fields[2])))
        } else {
            return nil
        }
    }
}

/// A warm monitor's arguments: where its standard error goes, and its command line (after the
/// program's name). On the wire `args\0<diagnostics file>\0<argument>\0<argument>...`.
public struct WarmArguments: Sendable, Equatable {
    public var diagnosticsPath: String
    public var arguments: [String]

    public init(diagnosticsPath: String, arguments: [String]) {
        self.diagnosticsPath = diagnosticsPath
        self.arguments = arguments
    }

    static let tag = Array("args".utf8)

    public var bytes: [UInt8] {
        var message = WarmArguments.tag + [0] + Array(diagnosticsPath.utf8)
        for argument in arguments { message += [0] + Array(argument.utf8) }
        return message
    }

    /// nil unless `bytes` is `args\0` with a diagnostics path and at least one argument.
    public init?(bytes: some Collection<UInt8>) {
        let fields = bytes.split(separator: 0, omittingEmptySubsequences: false)
        guard fields.count >= 3, fields[0].elementsEqual(WarmArguments.tag) else { return nil }
        diagnosticsPath = String(decoding: fields[1], as: UTF8.self)
        arguments = fields.dropFirst(2).map { String(decoding: $0, as: UTF8.self) }
    }
}
