import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A decoded API request, handed to a route's handler.
public struct Request: Sendable {
    public var method: String
    /// The path as requested (with any `/v1.NN` prefix), without the query.
    public var path: String
    /// The API version the client asked for (the prefix), or the current one.
    public var version: APIVersion
    public var query: [String: [String]]
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Values of `{name}` segments of the matched route.
    public var parameters: [String: String] = [:]
    /// The body of a spooling route, in an unnamed temporary file.
    public var spooled: SpooledBody?
    /// The body of a following route, as it arrives.
    public var feed: BodyFeed?

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public func queryValue(_ name: String) -> String? { query[name]?.last }

    /// A boolean query parameter as moby reads one: absent, "", "0", "false" (any case) and
    /// "no" are false, anything else true.
    public func queryBool(_ name: String) -> Bool {
        guard let value = queryValue(name)?.lowercased() else { return false }
        return !(value.isEmpty || value == "0" || value == "false" || value == "no")
    }
}

/// A request body written to an unnamed temporary file (`O_TMPFILE`): nothing to remove
/// afterwards, whatever happens. Closed when the last user lets go.
public final class SpooledBody: @unchecked Sendable {
    public let fd: Int32
    public private(set) var size: Int64 = 0

    init(fd: Int32) {
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends bytes; only the connection's event loop calls this, before the handler runs.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Syscall.retrying { write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                throw APIError(.internalServerError, "spooling the request body: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        size += Int64(bytes.count)
    }
}

/// What a handler answers.
public struct Response: Sendable {
    public typealias Stream = @Sendable (ResponseWriter) throws -> Void

    public var status: HTTPStatus
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// A body produced as it goes (pull progress, `docker save`): run on a thread of its own,
    /// sent chunked. The head goes out with the first bytes, so a stream that fails before it
    /// wrote anything is answered as an ordinary error.
    public var stream: Stream?
    /// The stream mostly waits (a container wait): it runs on the pool for long waits.
    public var longRunning = false
    /// A body that waits for things to happen (`logs -f`, events), produced in steps: see `Poll`.
    public var poll: Poll?
    /// The connection is taken over after the head (attach): see `Hijack`.
    public var hijack: Hijack?

    public init(status: HTTPStatus = .ok, headers: [(String, String)] = [], body: [UInt8] = [],
                stream: Stream? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
    }

    /// A streamed response produced in steps.
    public static func poll(headers: [(String, String)], every milliseconds: Int64,
                            _ step: @escaping Poll.Step) -> Response {
        var response = Response(headers: headers)
        response.poll = Poll(milliseconds: milliseconds, step: step)
        return response
    }

    /// A response that hijacks the connection.
    public static func hijack(_ hijack: Hijack) -> Response {
        var response = Response(status: .ok)
        response.hijack = hijack
        return response
    }

    /// A JSON body with Docker's trailing newline.
    public static func json(_ value: JSON, status: HTTPStatus = .ok) -> Response {
        var body = value.bytes
        body.append(0x0A)
        return Response(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    /// `{"message": "..."}`, Docker's error body.
    public static func error(_ error: APIError) -> Response {
        json(["message": JSON(error.message)], status: error.status)
    }
}

/// A streamed body for a stream that mostly waits (following a log, events): each `step` runs
/// on a stream thread, writes what there is and answers whether to run again, which happens
/// `milliseconds` later. No thread is held in between, so many followers cost no threads.
/// Steps of one response never overlap. As with `stream`, a failure before anything was
/// written is answered as an error.
public struct Poll: Sendable {
    public typealias Step = @Sendable (ResponseWriter) throws -> Bool

    public var milliseconds: Int64
    public var step: Step
}
