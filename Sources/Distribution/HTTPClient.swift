import Glibc

/// A request: method, URL, extra header fields and a body.
struct HTTPRequest {
    enum Body {
        case none
        case bytes([UInt8])
        /// Exactly `size` bytes pulled from `read` (which returns 0 at the end). Not replayable.
        case stream(size: Int64, read: (UnsafeMutableRawBufferPointer) throws(RegistryError) -> Int,
                    progress: ((Int64) -> Void)?)
    }

    var method: String
    var url: HTTPURL
    var headers: [(name: String, value: String)] = []
    var body: Body = .none

    init(_ method: String, _ url: HTTPURL, headers: [(name: String, value: String)] = [], body: Body = .none) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A small blocking HTTP/1.1 client: one request at a time, one idle connection kept for the
/// next request to the same origin (retried once on a new connection when the kept one turns
/// out closed before answering). Redirects and authentication are the caller's business.
final class HTTPClient {
    let userAgent: String
    let timeoutSeconds: Int
    /// The TLS context for an https URL (chosen per host by the registry client).
    private let tls: (HTTPURL) throws(RegistryError) -> TLSContext?
    private var idle: Connection?

    static let headerLimit = 64 << 10

    init(userAgent: String, timeoutSeconds: Int, tls: @escaping (HTTPURL) throws(RegistryError) -> TLSContext?) {
        self.userAgent = userAgent
        self.timeoutSeconds = timeoutSeconds
        self.tls = tls
    }

    deinit { idle?.close() }

    /// `Get "https://host/v2/..."`
    static func operation(_ method: String, _ url: HTTPURL) -> String {
        let word = method.prefix(1).uppercased() + method.dropFirst().lowercased()
        return "\(word) \"\(url)\""
    }

    /// Sends `request` and reads the response head. Errors carry the operation in front.
    func send(_ request: HTTPRequest) throws(RegistryError) -> HTTPResponse {
        let operation = HTTPClient.operation(request.method, request.url)
        var replayable = true
        if case .stream = request.body { replayable = false }
        var reused = false
        var connection: Connection
        do {
            if replayable, let kept = takeIdle(for: request.url) {
                connection = kept
                reused = true
            } else {
                connection = try Connection.open(request.url, tls: try tls(request.url), timeoutSeconds: timeoutSeconds)
            }
        } catch {
            throw error.prefixed(operation)
        }
        while true {
            connection.resetReceived()
            do {
                try write(request, on: connection)
                return try readResponse(request, on: connection)
            } catch {
                connection.close()
                // A kept connection the server had closed: once more on a new one.
                guard reused, !connection.receivedAny, error.code == .network else { throw error.prefixed(operation) }
                reused = false
                do {
                    connection = try Connection.open(request.url, tls: try tls(request.url), timeoutSeconds: timeoutSeconds)
                } catch {
                    throw error.prefixed(operation)
                }
            }
        }
    }

    /// Keeps `connection` for the next request (closing the one kept before).
    func keepIdle(_ connection: Connection) {
        if let idle, idle !== connection { idle.close() }
        idle = connection
    }

    private func takeIdle(for url: HTTPURL) -> Connection? {
        guard let kept = idle else { return nil }
        idle = nil
        if kept.origin == url.origin && kept.isReusable { return kept }
        kept.close()
        return nil
    }

    private func write(_ request: HTTPRequest, on connection: Connection) throws(RegistryError) {
        var head = "\(request.method) \(request.url.target) HTTP/1.1\r\nHost: \(request.url.authority)\r\n"
        head += "User-Agent: \(userAgent)\r\n"
        for field in request.headers { head += "\(field.name): \(field.value)\r\n" }
        var bytes: [UInt8]
        switch request.body {
        case .none:
            if request.method == "POST" || request.method == "PUT" || request.method == "PATCH" {
                head += "Content-Length: 0\r\n"
            }
            head += "\r\n"
            bytes = Array(head.utf8)
        case .bytes(let body):
            head += "Content-Length: \(body.count)\r\n\r\n"
            bytes = Array(head.utf8)
            bytes += body
        case .stream(let size, let read, let progress):
            head += "Content-Length: \(size)\r\n\r\n"
            try connection.write(Array(head.utf8))
            try stream(size: size, read: read, progress: progress, to: connection)
            return
        }
        try connection.write(bytes)
    }

    private func stream(size: Int64, read: (UnsafeMutableRawBufferPointer) throws(RegistryError) -> Int,
                        progress: ((Int64) -> Void)?, to connection: Connection) throws(RegistryError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Connection.bufferSize, alignment: 8)
        defer { buffer.deallocate() }
        var sent: Int64 = 0
        while true {
            // One byte more than announced would show a source longer than its size.
            let want = Int(min(Int64(buffer.count), size - sent + 1))
            let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
            if n == 0 { break }
            guard n > 0, n <= want, sent + Int64(n) <= size else {
                throw RegistryError(.invalidArgument, "the upload source gave more than the \(size) bytes announced")
            }
            try connection.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            sent += Int64(n)
            progress?(sent)
        }
        guard sent == size else {
            throw RegistryError(.invalidArgument, "the upload source ended after \(sent) of the \(size) bytes announced")
        }
    }

    private func readResponse(_ request: HTTPRequest, on connection: Connection) throws(RegistryError) -> HTTPResponse {
        let operation = HTTPClient.operation(request.method, request.url)
        while true {
            var total = 0
            guard let statusLine = try connection.readLine(limit: HTTPClient.headerLimit) else {
                throw RegistryError(.network, "read tcp \(connection.peer): connection closed before a response (EOF)")
            }
            total += statusLine.count
            let (version, status) = try HTTPClient.parseStatusLine(statusLine)
            var headers = HTTPHeaders()
            while true {
                guard let line = try connection.readLine(limit: HTTPClient.headerLimit) else {
                    throw RegistryError(.network, "read tcp \(connection.peer): connection closed in the response headers")
                }
                total += line.count + 2
                guard total <= HTTPClient.headerLimit else {
                    throw RegistryError(.protocolError, "response headers larger than \(HTTPClient.headerLimit / 1024) KiB")
                }
                if line.isEmpty { break }
                if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t"), !headers.fields.isEmpty {
                    headers.fields[headers.fields.count - 1].value += " " + String(decoding: line, as: UTF8.self).trimmingSpaces
                    continue
                }
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
                    throw RegistryError(.protocolError, "malformed header line \"\(String(decoding: line.prefix(100), as: UTF8.self))\"")
                }
                headers.add(String(decoding: line[..<colon], as: UTF8.self).trimmingSpaces,
                            String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces)
            }
            // 1xx: an interim answer (100 Continue), the real one follows.
            if status >= 100 && status < 200 && status != 101 { continue }
            let framing = try HTTPClient.framing(method: request.method, status: status, headers: headers)
            var keepAlive = version == "HTTP/1.1" ? !headers.contains("Connection", token: "close")
                                                 : headers.contains("Connection", token: "keep-alive")
            if case .untilClose = framing { keepAlive = false }
            let body = HTTPBody(connection: connection, framing: framing, keepAlive: keepAlive, client: self,
                                operation: operation)
            return HTTPResponse(status: status, headers: headers, url: request.url, method: request.method, body: body)
        }
    }

    /// "HTTP/1.1 200 OK" -> ("HTTP/1.1", 200).
    static func parseStatusLine(_ line: [UInt8]) throws(RegistryError) -> (String, Int) {
        let text = String(decoding: line, as: UTF8.self)
        let parts = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3,
              let status = Int(parts[1]), status >= 100 else {
            throw RegistryError(.protocolError, "malformed HTTP response \"\(String(text.prefix(100)))\"")
        }
        return (String(parts[0]), status)
    }

    /// How the body is delimited (RFC 9112 section 6.3).
    static func framing(method: String, status: Int, headers: HTTPHeaders) throws(RegistryError) -> HTTPBody.Framing {
        if method == "HEAD" || status == 204 || status == 304 || (status >= 100 && status < 200) { return .empty }
        if let encoding = headers["Transfer-Encoding"] {
            guard headers.contains("Transfer-Encoding", token: "chunked") else {
                throw RegistryError(.protocolError, "unsupported Transfer-Encoding \"\(encoding)\"")
            }
            return .chunked
        }
        let lengths = Set(headers.values("Content-Length").map { $0.trimmingSpaces })
        if let text = lengths.first {
            guard lengths.count == 1, let length = Int64(text), length >= 0 else {
                throw RegistryError(.protocolError, "bad Content-Length \"\(lengths.sorted().joined(separator: ", "))\"")
            }
            return .length(length)
        }
        return .untilClose
    }
}
