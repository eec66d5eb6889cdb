import ContainerLogs
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The streaming container routes (moby's ContainerAttach, ContainerLogs, ContainerResize):
/// they talk to the container's monitor through its sockets and read its log file; they never
/// hold the container.
enum ContainerStreamHandlers {
    static let multiplexedFrom = APIVersion(major: 1, minor: 42)

    // MARK: - POST /containers/{id}/attach

    /// Hijacks the connection and relays it to the monitor's attach socket, now when the
    /// monitor listens, else when the container starts (`AttachRegistry`).
    @Sendable static func containerAttach(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["id"] ?? ""
        // moby checks the keys before it looks for the container.
        let keys = try DetachKeys(parsing: request.queryValue("detachKeys") ?? "")
        let record = try engine.currentContainer(name)
        switch record.state {
        case .paused:
            throw EngineError(.conflict, "container \(name) is paused, unpause the container before attach")
        case .restarting:
            throw EngineError(.conflict, "container \(name) is restarting, wait until the container is running")
        default:
            break
        }
        let settings = try StoredContainer(record)
        let options = AttachOptions(
            containerID: record.id,
            stdin: request.queryBool("stdin") && settings.openStdin,
            stdout: request.queryBool("stdout"),
            stderr: request.queryBool("stderr"),
            logs: request.queryBool("logs"),
            stream: request.queryBool("stream"),
            tty: settings.tty,
            stdinOnce: settings.stdinOnce,
            detachKeys: keys,
            logPath: MonitorConnection.logPath(engine, containerID: record.id),
            runDirectory: MonitorConnection.runDirectory(engine, containerID: record.id),
            ticket: request.queryBool("stream") ? engine.attachments.expect(containerID: record.id) : nil)
        let actor = ContainerEvents.Actor(record)
        return .hijack(Hijack(multiplexed: !settings.tty && request.version >= multiplexedFrom) {
            AttachSession(options: options, engine: engine, actor: actor)
        })
    }

    // MARK: - GET /containers/{id}/logs

    @Sendable static func containerLogs(_ request: Request, _ engine: Engine) throws -> Response {
        let stdout = request.queryBool("stdout"), stderr = request.queryBool("stderr")
        guard stdout || stderr else {
            throw EngineError(.invalidArgument, "Bad parameters: you must choose at least one stream")
        }
        let since = try StreamTime.query(request, "since")
        let until = request.queryValue("until") == "0" ? nil : try StreamTime.query(request, "until")
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        if record.state == .removing || record.state == .dead {
            throw EngineError(.conflict, "can not get logs from container which is dead or marked for removal")
        }
        let settings = try StoredContainer(record)
        // moby: a tail that is not a number (`all`) or is negative means every line.
        let tail = request.queryValue("tail").flatMap(Int.init).flatMap { $0 >= 0 ? $0 : nil }
        let follow = request.queryBool("follow") && Engine.isContainerRunning(record)
        let options = LogReader.Options(since: since, until: until.map(StreamTime.nextNanosecond), tail: tail,
                                        stdout: stdout, stderr: stderr)
        let format = LogFormat(multiplexed: !settings.tty, timestamps: request.queryBool("timestamps"))
        let contentType = !settings.tty && request.version >= multiplexedFrom ? Hijack.multiplexedStream : Hijack.rawStream
        let path = MonitorConnection.logPath(engine, containerID: record.id)
        let id = record.id
        let follower = LogFollower(path: path, options: options, format: format, follow: follow, until: until) {
            engine.isContainerRunning(id: id)
        }
        return .poll(headers: [("Content-Type", contentType)], every: LogFollower.pollMilliseconds, follower.step)
    }

    // MARK: - POST /containers/{id}/resize

    @Sendable static func containerResize(_ request: Request, _ engine: Engine) throws -> Response {
        let height = try dimension(request, "h", "height")
        let width = try dimension(request, "w", "width")
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        let notRunning = EngineError(.conflict, "container \(record.id) is not running")
        guard record.state == .running || record.state == .paused else { throw notRunning }
        do {
            try MonitorConnection.resize(engine, containerID: record.id, rows: height, columns: width)
        } catch {
            if error.errno == ENOENT || error.errno == ECONNREFUSED { throw notRunning }
            throw EngineError(.internal, "resize: \(error)")
        }
        ContainerEvents.record(engine, ContainerEvents.Actor(record), action: "resize",
                               attributes: ["height": String(height), "width": String(width)])
        return Response(status: .ok)
    }

    /// `h` or `w` as moby reads it (`httputils.Uint32Value`): digits only, within UInt32.
    static func dimension(_ request: Request, _ key: String, _ what: String) throws(EngineError) -> UInt32 {
        let value = request.queryValue(key) ?? ""
        let digits = value.hasPrefix("-") ? String(value.dropFirst()) : value
        let reason: String
        if digits.isEmpty || !digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            reason = "invalid syntax"
        } else if value.hasPrefix("-") || UInt32(digits) == nil {
            reason = "value out of range"
        } else {
            return UInt32(digits)!
        }
        throw EngineError(.invalidArgument, "invalid resize \(what) \"\(value)\": \(reason)")
    }
}

/// How log records go to a client: Docker's 8-byte frames (non-TTY) or raw bytes (TTY),
/// with `timestamps` each record starts with its time as moby prints it (RFC 3339, nine
/// fraction digits, UTC) and a space.
struct LogFormat: Sendable {
    var multiplexed: Bool
    var timestamps: Bool

    func append(_ record: LogRecord, to out: inout [UInt8]) {
        var payload: [UInt8]
        if timestamps {
            payload = Array((LogRecord.format(record.time) + " ").utf8)
            payload += record.bytes
        } else {
            payload = record.bytes
        }
        if multiplexed {
            out += StreamFrame.frame(record.stream, payload[...])
        } else {
            out += payload
        }
    }
}

/// Reads a container's log file for `GET /logs`, and follows it while the container runs:
/// the steps of a polled response (the first sends what the file holds, each later one what
/// was appended).
final class LogFollower: @unchecked Sendable {
    private let path: String
    private let options: LogReader.Options
    private let format: LogFormat
    private let follow: Bool
    private let until: timespec?
    private let isRunning: @Sendable () -> Bool
    private var reader: LogReader?
    private var round = 0

    /// How often a follower looks for more (the monitor appends; no notification).
    static let pollMilliseconds: Int64 = 100
    /// Every how many steps it asks whether the container still runs.
    static let stateCheckEvery = 3

    init(path: String, options: LogReader.Options, format: LogFormat, follow: Bool, until: timespec?,
         isRunning: @escaping @Sendable () -> Bool) {
        self.path = path
        self.options = options
        self.format = format
        self.follow = follow
        self.until = until
        self.isRunning = isRunning
    }

    /// One step; true when there is more to wait for.
    @Sendable func step(_ writer: ResponseWriter) throws -> Bool {
        round += 1
        if round == 1 {
            writer.sendHead()
            try readExisting(writer)
            return follow
        }
        if writer.isClientGone { return false }
        let running = round % LogFollower.stateCheckEvery == 0 ? isRunning() : true
        try sendMore(writer)
        if let until, StreamTime.isAfter(Timestamp.now(), until) { return false }
        return running
    }

    /// What the file holds now (since, until, tail applied). A missing file (a container
    /// never started) is an empty log.
    private func readExisting(_ writer: ResponseWriter) throws {
        guard let reader = try? LogReader(path: path) else { return }
        self.reader = reader
        try readAll(reader, options, writer)
    }

    private func sendMore(_ writer: ResponseWriter) throws {
        if reader == nil {
            // The monitor creates the file when the container starts.
            guard let opened = try? LogReader(path: path) else { return }
            reader = opened
            try readAll(opened, LogReader.Options(since: options.since, until: options.until,
                                                  stdout: options.stdout, stderr: options.stderr), writer)
            return
        }
        guard let reader else { return }
        try send(try records { try reader.more(options) }, writer)
    }

    /// The file as it is now, sent in batches (bounded memory for a log of any size).
    private func readAll(_ reader: LogReader, _ options: LogReader.Options, _ writer: ResponseWriter) throws {
        do {
            try reader.copy(options, as: LogEncoding(multiplexed: format.multiplexed, timestamps: format.timestamps)) {
                try writer.write($0)
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw EngineError(.internal, "reading the log: \(error)")
        }
    }

    private func records(_ read: () throws -> [LogRecord]) throws -> [LogRecord] {
        do {
            return try read()
        } catch {
            throw EngineError(.internal, "reading the log: \(error)")
        }
    }

    private func send(_ records: [LogRecord], _ writer: ResponseWriter) throws {
        var chunk: [UInt8] = []
        for record in records {
            format.append(record, to: &chunk)
            if chunk.count >= 64 << 10 {
                try writer.write(chunk)
                chunk = []
            }
        }
        if !chunk.isEmpty { try writer.write(chunk) }
    }
}
