import COpenSSL
import Glibc
import Platform
import Testing
@testable import Distribution

/// A request as the test server received it.
struct ReceivedRequest: Sendable {
    var method: String
    var target: String
    /// Names lowercased; a repeated field keeps its last value.
    var headers: [String: String]
    var body: [UInt8]
    /// Which accepted connection carried it (0, 1, ...).
    var connection: Int
    /// Its place among all requests this server received (0, 1, ...).
    var sequence: Int

    var path: String { String(target.split(separator: "?", maxSplits: 1)[0]) }

    /// The query's parameters, percent-decoded, in order.
    var query: [(String, String)] {
        let parts = target.split(separator: "?", maxSplits: 1)
        guard parts.count == 2 else { return [] }
        return parts[1].split(separator: "&").map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecode(String(kv[0])), kv.count > 1 ? percentDecode(String(kv[1])) : "")
        }
    }

    func queryValues(_ name: String) -> [String] { query.filter { $0.0 == name }.map(\.1) }
}

func percentDecode(_ s: String) -> String {
    var out: [UInt8] = []
    let bytes = Array(s.utf8)
    var i = 0
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
           let v = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
            out.append(v)
            i += 3
        } else {
            out.append(bytes[i] == UInt8(ascii: "+") ? 0x20 : bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// What the server does with a request.
enum Reply: Sendable {
    /// Writes these bytes and serves the next request on the connection.
    case send([UInt8])
    /// Writes these bytes and closes the connection.
    case sendAndClose([UInt8])
    /// Answers nothing; waits until the client goes away.
    case hang

    /// A whole response with Content-Length (unless `length` is false or the headers say chunked).
    static func http(_ status: Int, _ headers: [(String, String)] = [], body: [UInt8] = [],
                     length: Bool = true) -> Reply {
        .send(response(status, headers, body: body, length: length))
    }

    static func response(_ status: Int, _ headers: [(String, String)] = [], body: [UInt8] = [],
                         length: Bool = true) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(RegistryError.reasonPhrase(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let chunked = headers.contains { $0.0.lowercased() == "transfer-encoding" }
        if length && !chunked { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// A registry error body as the distribution registry writes it.
    static func registryError(_ status: Int, code: String, message: String, _ headers: [(String, String)] = []) -> Reply {
        let body = JSON.object([JSON.Member("errors", .array([.object([
            JSON.Member("code", .string(code)), JSON.Member("message", .string(message)), JSON.Member("detail", .null),
        ])]))]).bytes
        return http(status, headers + [("Content-Type", "application/json")], body: body)
    }
}

/// An in-process HTTP/1.1 server on 127.0.0.1 (optionally TLS) that answers with a script. One
/// thread accepts; each connection gets its own thread. Requests are recorded for assertions.
final class TestServer: @unchecked Sendable {
    typealias Handler = @Sendable (ReceivedRequest) -> Reply

    let port: Int
    let handler: Handler
    /// Server side TLS context, when serving https.
    let tls: OpaquePointer?
    fileprivate let listenFD: Int32
    private var mutex = pthread_mutex_t()
    private var received: [ReceivedRequest] = []
    private var accepted = 0
    private var connectionFDs: [Int32] = []
    private var connectionThreads: [pthread_t] = []
    private var acceptThread = pthread_t()
    private var stopped = false

    var authority: String { "127.0.0.1:\(port)" }

    init(tls: OpaquePointer? = nil, handler: @escaping Handler) {
        self.handler = handler
        self.tls = tls
        let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        precondition(listenFD >= 0, "socket")
        self.listenFD = listenFD
        var one: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listenFD, pointer, length) == 0 && listen(listenFD, 16) == 0
                    && getsockname(listenFD, pointer, &length) == 0
            }
        }
        precondition(bound, "bind 127.0.0.1:0")
        port = Int(UInt16(bigEndian: address.sin_port))
        pthread_mutex_init(&mutex, nil)
        let argument = Unmanaged.passRetained(self).toOpaque()
        precondition(pthread_create(&acceptThread, nil, testServerAcceptLoop, argument) == 0, "pthread_create")
    }

    deinit { pthread_mutex_destroy(&mutex) }

    /// Every request received so far.
    var requests: [ReceivedRequest] { locked { received } }
    /// How many connections were accepted.
    var acceptedConnections: Int { locked { accepted } }

    /// Stops accepting, ends every connection and joins the threads.
    func stop() {
        let alreadyStopped: Bool = locked {
            let was = stopped
            stopped = true
            return was
        }
        if alreadyStopped { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        pthread_join(acceptThread, nil)
        close(listenFD)
        let (fds, threads) = locked { (connectionFDs, connectionThreads) }
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
        for thread in threads { pthread_join(thread, nil) }
        for fd in fds { close(fd) }
    }

    fileprivate func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }

    /// Called on the accept thread for each connection.
    fileprivate func started(_ fd: Int32) -> Int? {
        locked { () -> Int? in
            if stopped { return nil }
            connectionFDs.append(fd)
            accepted += 1
            return accepted - 1
        }
    }

    fileprivate func addThread(_ thread: pthread_t) { locked { connectionThreads.append(thread) } }

    fileprivate func record(_ request: ReceivedRequest) -> ReceivedRequest {
        locked {
            var copy = request
            copy.sequence = received.count
            received.append(copy)
            return copy
        }
    }

    /// Serves one connection until the peer or the script closes it.
    fileprivate func serve(_ fd: Int32, index: Int) {
        let stream = ServerStream(fd: fd, tls: tls)
        defer { stream.finish() }
        guard stream.handshake() else { return }
        while true {
            guard let request = stream.readRequest(connection: index) else { return }
            guard let parsed = request else {
                // Not HTTP (a TLS ClientHello on a plain port): Go's server answers 400 and closes.
                stream.write(Reply.response(400, [("Connection", "close")], body: Array("400 Bad Request".utf8)))
                return
            }
            switch handler(record(parsed)) {
            case .send(let bytes):
                guard stream.write(bytes) else { return }
            case .sendAndClose(let bytes):
                stream.write(bytes)
                return
            case .hang:
                stream.drain()
                return
            }
        }
    }
}

/// Thread entry: accepts connections until the listening socket is shut down.
func testServerAcceptLoop(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let server = Unmanaged<TestServer>.fromOpaque(argument!).takeRetainedValue()
    while true {
        let fd = accept(server.listenFD, nil, nil)
        if fd < 0 {
            if errno == EINTR || errno == ECONNABORTED { continue }
            return nil
        }
        guard let index = server.started(fd) else {
            close(fd)
            return nil
        }
        let context = Unmanaged.passRetained(ServerConnectionContext(server: server, fd: fd, index: index)).toOpaque()
        var thread = pthread_t()
        precondition(pthread_create(&thread, nil, testServerConnectionLoop, context) == 0, "pthread_create")
        server.addThread(thread)
    }
}

final class ServerConnectionContext {
    let server: TestServer
    let fd: Int32
    let index: Int
    init(server: TestServer, fd: Int32, index: Int) {
        self.server = server
        self.fd = fd
        self.index = index
    }
}

/// Thread entry: serves one accepted connection.
func testServerConnectionLoop(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let context = Unmanaged<ServerConnectionContext>.fromOpaque(argument!).takeRetainedValue()
    context.server.serve(context.fd, index: context.index)
    return nil
}

/// The server's side of one connection: plain or TLS, blocking. OpenSSL calls run with SIGPIPE
/// blocked (a client that gave up must not kill the test process).
final class ServerStream {
    let fd: Int32
    private var ssl: OpaquePointer?
    private var pending: [UInt8] = []

    init(fd: Int32, tls: OpaquePointer?) {
        self.fd = fd
        if let tls {
            ssl = SSL_new(tls)
            SSL_set_fd(ssl, fd)
        }
    }

    func handshake() -> Bool {
        guard let ssl else { return true }
        return Connection.withoutSIGPIPE { SSL_accept(ssl) } == 1
    }

    /// Ends the connection: the client sees the end of the stream (the descriptor itself is
    /// closed by `TestServer.stop`).
    func finish() {
        if let ssl {
            _ = Connection.withoutSIGPIPE { SSL_shutdown(ssl) }
            SSL_free(ssl)
            self.ssl = nil
        }
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private func receive(_ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        let n: Int = buffer.withUnsafeMutableBytes { raw in
            if let ssl { return Int(Connection.withoutSIGPIPE { SSL_read(ssl, raw.baseAddress, Int32(raw.count)) }) }
            while true {
                let n = recv(fd, raw.baseAddress, raw.count, 0)
                if n < 0 && errno == EINTR { continue }
                return n
            }
        }
        guard n > 0 else { return nil }
        return Array(buffer[0..<n])
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n: Int = bytes[offset...].withUnsafeBytes { raw in
                if let ssl { return Int(Connection.withoutSIGPIPE { SSL_write(ssl, raw.baseAddress, Int32(raw.count)) }) }
                return send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
            }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Reads and drops everything until the peer closes.
    func drain() {
        while receive(65536) != nil {}
    }

    /// The next request: nil when the connection ended; .some(nil) when it is not HTTP.
    func readRequest(connection: Int) -> ReceivedRequest?? {
        var head: [UInt8] = []
        while true {
            if let end = find(pending, Array("\r\n\r\n".utf8)) {
                head = Array(pending[0..<end])
                pending.removeFirst(end + 4)
                break
            }
            if let newline = pending.firstIndex(of: 0x0A), !looksLikeRequestLine(Array(pending[0..<newline])) {
                return .some(nil)
            }
            guard let more = receive(65536) else { return nil }
            pending += more
        }
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count == 3 else { return .some(nil) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingSpaces
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while pending.count < length {
            guard let more = receive(65536) else { return nil }
            pending += more
        }
        let body = Array(pending[0..<length])
        pending.removeFirst(length)
        return .some(ReceivedRequest(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers,
                                     body: body, connection: connection, sequence: 0))
    }

    private func looksLikeRequestLine(_ line: [UInt8]) -> Bool {
        let text = String(decoding: line, as: UTF8.self)
        let parts = text.split(separator: " ")
        return parts.count == 3 && parts[0].allSatisfy { $0.isUppercase } && parts[2].hasPrefix("HTTP/1.")
    }

    private func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }
}

// MARK: - Helpers

/// A fresh directory under /tmp, named with a random test prefix.
func makeTemporaryDirectory(_ prefix: String) -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp")
    return String(cString: made!)
}

/// Expects `body` to throw a RegistryError with this code; returns it for more checks.
@discardableResult
func expectRegistryError(_ code: RegistryError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: () throws -> Void) -> RegistryError? {
    do {
        try body()
        Issue.record("expected a RegistryError \(code), nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as RegistryError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a RegistryError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

extension String {
    /// Whether `other` occurs in this string.
    func includes(_ other: String) -> Bool {
        let a = Array(utf8), b = Array(other.utf8)
        guard b.count <= a.count else { return false }
        if b.isEmpty { return true }
        for i in 0...(a.count - b.count) where a[i..<(i + b.count)].elementsEqual(b) { return true }
        return false
    }
}
