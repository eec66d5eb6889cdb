import COpenSSL
import Glibc
import Platform

/// One TCP connection, optionally under TLS, with a read buffer. The socket stays non-blocking;
/// every wait is a `poll` bounded by the timeout, so a registry that stops answering fails with
/// `.timeout` instead of hanging. Errors name the peer and the step, not the request (the HTTP
/// client adds that).
final class Connection {
    /// "https://host:port"
    let origin: String
    /// "host:port" for messages.
    let peer: String
    private var fd: Int32
    private var ssl: OpaquePointer?
    private let timeoutMilliseconds: Int32
    private let timeoutSeconds: Int
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    /// Whether any byte arrived since `resetReceived()`: a reused connection that fails before
    /// the first response byte may be retried on a new one.
    private(set) var receivedAny = false

    static let bufferSize = 64 << 10

    private init(fd: Int32, origin: String, peer: String, timeoutSeconds: Int) {
        self.fd = fd
        self.origin = origin
        self.peer = peer
        self.timeoutSeconds = timeoutSeconds
        self.timeoutMilliseconds = Int32(clamping: timeoutSeconds * 1000)
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Connection.bufferSize, alignment: 8)
    }

    deinit {
        close()
        buffer.deallocate()
    }

    var isOpen: Bool { fd >= 0 }

    /// Connects to `url`'s host and port (each address in turn), then does the TLS handshake
    /// when `tls` is given (SNI for names; the name or address checked when it verifies).
    static func open(_ url: HTTPURL, tls: TLSContext?, timeoutSeconds: Int) throws(RegistryError) -> Connection {
        let peer = url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)"
        let fd = try connect(host: url.host, port: url.port, peer: peer, timeoutSeconds: timeoutSeconds)
        let connection = Connection(fd: fd, origin: url.origin, peer: peer, timeoutSeconds: timeoutSeconds)
        if let tls { try connection.handshake(tls, host: url.host) }
        return connection
    }

    private static func connect(host: String, port: Int, peer: String, timeoutSeconds: Int) throws(RegistryError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else {
            let text = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            throw RegistryError(.network, "dial tcp \(peer): lookup \(host): \(text)")
        }
        defer { freeaddrinfo(list) }
        let deadline = Deadline(seconds: timeoutSeconds)
        var lastError = RegistryError(.network, "dial tcp \(peer): no address")
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let info = next {
            next = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                                | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else {
                lastError = RegistryError(.network, "dial tcp \(peer): socket: \(String(cString: strerror(errno)))")
                continue
            }
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                configure(fd)
                return fd
            }
            if errno == EINPROGRESS {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = pollRetrying(&pfd, deadline.remainingMilliseconds)
                if ready == 0 {
                    Glibc.close(fd)
                    throw RegistryError(.timeout, "dial tcp \(peer): connect: timed out after \(timeoutSeconds) s")
                }
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                if ready > 0 && soError == 0 {
                    configure(fd)
                    return fd
                }
                lastError = RegistryError(.network, "dial tcp \(peer): connect: \(String(cString: strerror(soError)))")
            } else {
                lastError = RegistryError(.network, "dial tcp \(peer): connect: \(String(cString: strerror(errno)))")
            }
            Glibc.close(fd)
        }
        throw lastError
    }

    private static func configure(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private func handshake(_ tls: TLSContext, host: String) throws(RegistryError) {
        guard let ssl = SSL_new(tls.context) else {
            throw RegistryError(.tls, "tls: handshake with \(peer): \(TLSContext.errorQueueText())")
        }
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        let isAddress = Connection.isIPAddress(host)
        if !isAddress { _ = skiff_ssl_set_sni(ssl, host) }
        if tls.verifiesPeer {
            let param = SSL_get0_param(ssl)
            let ok = isAddress ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : X509_VERIFY_PARAM_set1_host(param, host, 0)
            guard ok == 1 else { throw RegistryError(.tls, "tls: handshake with \(peer): cannot check host name \(host)") }
        }
        let deadline = Deadline(seconds: timeoutSeconds)
        while true {
            ERR_clear_error()
            let (rc, savedErrno) = Connection.withoutSIGPIPE { (SSL_connect(ssl), errno) }
            if rc == 1 { return }
            let error = SSL_get_error(ssl, rc)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
                var pfd = pollfd(fd: fd, events: Int16(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), revents: 0)
                if Connection.pollRetrying(&pfd, deadline.remainingMilliseconds) == 0 {
                    throw RegistryError(.timeout, "tls: handshake with \(peer): timed out after \(timeoutSeconds) s")
                }
                continue
            }
            let verify = SSL_get_verify_result(ssl)
            if tls.verifiesPeer && verify != X509_V_OK {
                let reason = String(cString: X509_verify_cert_error_string(verify))
                ERR_clear_error()
                throw RegistryError(.tls, "tls: handshake with \(peer): certificate verification failed: \(reason)")
            }
            var text = TLSContext.errorQueueText()
            if error == SSL_ERROR_SYSCALL {
                text = savedErrno == 0 ? "connection closed by the server" : String(cString: strerror(savedErrno))
            }
            throw RegistryError(.tls, "tls: handshake with \(peer): \(text)")
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    func close() {
        if let ssl {
            SSL_free(ssl)
            self.ssl = nil
        }
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Whether an idle connection can carry another request: open, and nothing to read (an idle
    /// connection that is readable was closed by the server, or sent something unasked).
    var isReusable: Bool {
        guard fd >= 0, start == end else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) == 0
    }

    func resetReceived() { receivedAny = false }

    // MARK: - Writing

    func write(_ bytes: UnsafeRawBufferPointer) throws(RegistryError) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let n = try writeSome(rest)
            offset += n
        }
    }

    func write(_ bytes: [UInt8]) throws(RegistryError) {
        let result: Result<Void, RegistryError> = bytes.withUnsafeBytes { raw in
            do throws(RegistryError) { try write(raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    private func writeSome(_ bytes: UnsafeRawBufferPointer) throws(RegistryError) -> Int {
        guard fd >= 0 else { throw RegistryError(.network, "write tcp \(peer): connection closed") }
        while true {
            if let ssl {
                ERR_clear_error()
                let (rc, savedErrno) = Connection.withoutSIGPIPE {
                    (SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count)), errno)
                }
                if rc > 0 { return Int(rc) }
                let error = SSL_get_error(ssl, rc)
                switch error {
                case SSL_ERROR_WANT_READ: try wait(POLLIN, "write")
                case SSL_ERROR_WANT_WRITE: try wait(POLLOUT, "write")
                case SSL_ERROR_SYSCALL:
                    throw RegistryError(.network, "write tcp \(peer): \(savedErrno == 0 ? "connection closed" : String(cString: strerror(savedErrno)))")
                default:
                    throw RegistryError(.network, "write tcp \(peer): tls: \(TLSContext.errorQueueText())")
                }
            } else {
                let n = Syscall.retrying { send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
                if n >= 0 { return n }
                switch errno {
                case EAGAIN, EWOULDBLOCK: try wait(POLLOUT, "write")
                default: throw RegistryError(.network, "write tcp \(peer): \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    // MARK: - Reading

    /// Reads up to `into.count` bytes, buffered ones first; 0 at the end of the stream.
    func read(into destination: UnsafeMutableRawBufferPointer) throws(RegistryError) -> Int {
        if start < end {
            let n = min(destination.count, end - start)
            destination.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
            start += n
            return n
        }
        // Large reads go straight to the caller's buffer.
        if destination.count >= 4096 { return try receive(into: destination) }
        guard try fill() else { return 0 }
        return try read(into: destination)
    }

    /// Reads one line ending in LF (CR LF or LF), without the line end; nil at the end of the
    /// stream before any byte. A line longer than `limit` is a protocol error.
    func readLine(limit: Int) throws(RegistryError) -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            if start == end {
                guard try fill() else {
                    if line.isEmpty { return nil }
                    throw RegistryError(.protocolError, "read tcp \(peer): connection closed in the middle of a line")
                }
            }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            if let newline = bytes.firstIndex(of: 0x0A) {
                line.append(contentsOf: bytes[..<newline])
                start += newline + 1
                if line.last == 0x0D { line.removeLast() }
                guard line.count <= limit else {
                    throw RegistryError(.protocolError, "read tcp \(peer): line longer than \(limit) bytes")
                }
                return line
            }
            line.append(contentsOf: bytes)
            start = end
            guard line.count <= limit else {
                throw RegistryError(.protocolError, "read tcp \(peer): line longer than \(limit) bytes")
            }
        }
    }

    /// Refills the empty buffer; false at the end of the stream.
    private func fill() throws(RegistryError) -> Bool {
        start = 0
        end = 0
        let n = try receive(into: buffer)
        end = n
        return n > 0
    }

    private func receive(into destination: UnsafeMutableRawBufferPointer) throws(RegistryError) -> Int {
        guard fd >= 0 else { throw RegistryError(.network, "read tcp \(peer): connection closed") }
        while true {
            if let ssl {
                ERR_clear_error()
                // SSL_read may write too (a key update, an alert).
                let (rc, savedErrno) = Connection.withoutSIGPIPE {
                    (SSL_read(ssl, destination.baseAddress, Int32(clamping: destination.count)), errno)
                }
                if rc > 0 {
                    receivedAny = true
                    return Int(rc)
                }
                let error = SSL_get_error(ssl, rc)
                switch error {
                case SSL_ERROR_ZERO_RETURN: return 0
                case SSL_ERROR_WANT_READ: try wait(POLLIN, "read")
                case SSL_ERROR_WANT_WRITE: try wait(POLLOUT, "read")
                case SSL_ERROR_SYSCALL:
                    if savedErrno == 0 { return 0 }
                    throw RegistryError(.network, "read tcp \(peer): \(String(cString: strerror(savedErrno)))")
                default:
                    throw RegistryError(.network, "read tcp \(peer): tls: \(TLSContext.errorQueueText())")
                }
            } else {
                let n = Syscall.retrying { recv(fd, destination.baseAddress, destination.count, 0) }
                if n > 0 { receivedAny = true }
                if n >= 0 { return n }
                switch errno {
                case EAGAIN, EWOULDBLOCK: try wait(POLLIN, "read")
                default: throw RegistryError(.network, "read tcp \(peer): \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    /// Waits until the socket is ready, at most the timeout.
    private func wait(_ events: Int32, _ operation: String) throws(RegistryError) {
        var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
        let ready = Connection.pollRetrying(&pfd, timeoutMilliseconds)
        if ready == 0 {
            let what = operation == "read" ? "no data from the registry" : "the registry did not accept data"
            throw RegistryError(.timeout, "\(operation) tcp \(peer): timed out after \(timeoutSeconds) s (\(what))")
        }
        if ready < 0 {
            throw RegistryError(.network, "\(operation) tcp \(peer): poll: \(String(cString: strerror(errno)))")
        }
    }

    static func pollRetrying(_ pfd: inout pollfd, _ milliseconds: Int32) -> Int32 {
        Syscall.retrying { poll(&pfd, 1, milliseconds) }
    }

    /// Runs `body` with SIGPIPE blocked on this thread and drops a SIGPIPE it raised: OpenSSL
    /// writes with write(2), which would otherwise kill the process when the peer has gone.
    static func withoutSIGPIPE<T>(_ body: () -> T) -> T {
        var block = sigset_t()
        var old = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &block, &old)
        let result = body()
        var pending = sigset_t()
        sigpending(&pending)
        if sigismember(&pending, SIGPIPE) == 1 && sigismember(&old, SIGPIPE) == 0 {
            var zero = timespec(tv_sec: 0, tv_nsec: 0)
            _ = Syscall.retrying { sigtimedwait(&block, nil, &zero) }
        }
        pthread_sigmask(SIG_SETMASK, &old, nil)
        return result
    }
}

/// A point in time `seconds` from now, on the monotonic clock.
struct Deadline {
    private let end: timespec

    init(seconds: Int) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        now.tv_sec += seconds
        end = now
    }

    /// Milliseconds left, at least 0.
    var remainingMilliseconds: Int32 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let ms = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1_000_000
        return Int32(clamping: max(0, ms))
    }
}
