/// A response whose head has been read; the body streams from the connection.
final class HTTPResponse {
    let status: Int
    let headers: HTTPHeaders
    /// The URL that was asked for.
    let url: HTTPURL
    let method: String
    let body: HTTPBody

    init(status: Int, headers: HTTPHeaders, url: HTTPURL, method: String, body: HTTPBody) {
        self.status = status
        self.headers = headers
        self.url = url
        self.method = method
        self.body = body
    }

    /// `Get "https://host/v2/..."`, as Go's net/http names a request in its errors.
    var operation: String { HTTPClient.operation(method, url) }

    /// Content-Type without parameters.
    var mediaType: String {
        guard let value = headers["Content-Type"] else { return "" }
        return (value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingSpaces
    }

    /// The error for an unexpected status, from what the registry said (at most 64 KiB of it).
    func error() -> RegistryError {
        let text = (try? body.readAll(limit: 64 << 10, truncating: true)) ?? []
        body.close()
        return RegistryError.response(status: status, body: text, operation: operation)
    }
}

/// A response body: by Content-Length, chunked, or until the server closes. When it has been
/// read to its end on a connection the server keeps open, the connection goes back to the
/// client for the next request; closing early closes the connection.
final class HTTPBody {
    enum Framing {
        case empty
        case length(Int64)
        case chunked
        case untilClose
    }

    private var connection: Connection?
    private let framing: Framing
    private let keepAlive: Bool
    private weak var client: HTTPClient?
    private let operation: String
    /// Bytes left in the body (`.length`) or in the current chunk (`.chunked`).
    private var remaining: Int64 = 0
    private var started = false
    private(set) var isComplete = false

    init(connection: Connection, framing: Framing, keepAlive: Bool, client: HTTPClient, operation: String) {
        self.connection = connection
        self.framing = framing
        self.keepAlive = keepAlive
        self.client = client
        self.operation = operation
        if case .length(let n) = framing { remaining = n }
        if case .empty = framing { finish() }
        if case .length(0) = framing { finish() }
    }

    deinit { close() }

    /// Content-Length, when the body has one.
    var contentLength: Int64? {
        switch framing {
        case .empty: return 0
        case .length(let n): return n
        default: return nil
        }
    }

    /// Reads up to `buffer.count` body bytes; 0 at the end of the body.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(RegistryError) -> Int {
        guard !isComplete else { return 0 }
        guard let connection else { throw RegistryError(.network, "\(operation): body already closed") }
        do throws(RegistryError) {
            switch framing {
            case .empty:
                return 0
            case .length:
                let n = try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(min(Int64(buffer.count), remaining))]))
                if n == 0 {
                    throw RegistryError(.network, "unexpected EOF: the server closed the connection with \(remaining) bytes of the body still to come")
                }
                remaining -= Int64(n)
                if remaining == 0 { finish() }
                return n
            case .untilClose:
                let n = try connection.read(into: buffer)
                if n == 0 { finish() }
                return n
            case .chunked:
                if remaining == 0 {
                    if started {
                        guard let crlf = try connection.readLine(limit: 2), crlf.isEmpty else {
                            throw RegistryError(.protocolError, "chunked body: missing line end after a chunk")
                        }
                    }
                    started = true
                    guard let line = try connection.readLine(limit: 4096) else {
                        throw RegistryError(.network, "unexpected EOF: the server closed the connection in a chunked body")
                    }
                    let sizeText = String(decoding: line.prefix { $0 != UInt8(ascii: ";") }, as: UTF8.self).trimmingSpaces
                    guard let size = Int64(sizeText, radix: 16), size >= 0 else {
                        throw RegistryError(.protocolError, "chunked body: bad chunk size \"\(sizeText)\"")
                    }
                    if size == 0 {
                        // Trailer fields up to the empty line.
                        var trailerBytes = 0
                        while let trailer = try connection.readLine(limit: 8192), !trailer.isEmpty {
                            trailerBytes += trailer.count
                            if trailerBytes > 64 << 10 {
                                throw RegistryError(.protocolError, "chunked body: trailers larger than 64 KiB")
                            }
                        }
                        finish()
                        return 0
                    }
                    remaining = size
                }
                let n = try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(min(Int64(buffer.count), remaining))]))
                if n == 0 {
                    throw RegistryError(.network, "unexpected EOF: the server closed the connection in a chunked body")
                }
                remaining -= Int64(n)
                return n
            }
        } catch {
            close()
            throw error.prefixed(operation)
        }
    }

    /// The whole body. More than `limit` bytes: `.tooLarge` (or, `truncating`, the first `limit`).
    func readAll(limit: Int, truncating: Bool = false) throws(RegistryError) -> [UInt8] {
        if let length = contentLength, length > Int64(limit), !truncating {
            close()
            throw RegistryError(.tooLarge, "\(operation): response of \(length) bytes is larger than the limit of \(limit) bytes")
        }
        var out: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return out }
            if out.count + n > limit {
                close()
                if truncating { return out + chunk[0..<(limit - out.count)] }
                throw RegistryError(.tooLarge, "\(operation): response larger than the limit of \(limit) bytes")
            }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads a small rest so the connection can be reused; closes it instead when the rest is
    /// large or unknown.
    func discard() {
        if case .untilClose = framing {
            close()   // never reusable: no need to wait for the server to close
            return
        }
        if !isComplete, let length = contentLength, length > 64 << 10 {
            close()
            return
        }
        _ = try? readAll(limit: 64 << 10)
        close()
    }

    /// Releases the connection: back to the client when the body was read to its end and the
    /// server keeps the connection, else closed.
    func close() {
        guard let connection else { return }
        self.connection = nil
        if isComplete && keepAlive, let client {
            client.keepIdle(connection)
        } else {
            connection.close()
        }
    }

    private func finish() {
        isComplete = true
        close()
    }
}
