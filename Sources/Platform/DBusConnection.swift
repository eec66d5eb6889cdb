#if canImport(Glibc)
import Glibc
#endif

/// A client connection to a D-Bus bus over its unix socket: EXTERNAL authentication (the
/// kernel's peer credentials: our uid), `Hello`, then method calls answered in order and
/// signals kept until asked for. Blocking, one user at a time; every wait has a deadline.
public final class DBusConnection {
    public let fd: Int32
    /// The unique name the bus gave us (":1.42").
    public private(set) var uniqueName = ""
    private var serial: UInt32 = 0
    private var input: [UInt8] = []
    /// Signals (and stray messages) read while waiting for a reply.
    private var queued: [DBusMessage] = []

    /// The session bus (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`) or the system
    /// bus (`DBUS_SYSTEM_BUS_ADDRESS`, else /run/dbus/system_bus_socket).
    public static func busAddress(system: Bool, environment: (String) -> String? = { getenv($0).map { String(cString: $0) } })
        -> String? {
        if system { return environment("DBUS_SYSTEM_BUS_ADDRESS") ?? "unix:path=/run/dbus/system_bus_socket" }
        if let address = environment("DBUS_SESSION_BUS_ADDRESS"), !address.isEmpty { return address }
        return environment("XDG_RUNTIME_DIR").map { "unix:path=\($0)/bus" }
    }

    /// Connects to the first address of `address` (`unix:path=...` or `unix:abstract=...`,
    /// `;`-separated) that answers, authenticates and says Hello, within `milliseconds`.
    public init(address: String, milliseconds: Int = 2000) throws(DBusError) {
        let deadline = DBusConnection.now() + milliseconds
        var lastError = DBusError("bus address \"\(address)\": no unix path in it", unreachable: true)
        var connected: Int32 = -1
        for entry in address.split(separator: ";") {
            guard let socket = DBusConnection.parse(String(entry)) else { continue }
            do throws(DBusError) {
                connected = try DBusConnection.connect(socket)
                break
            } catch {
                lastError = error
            }
        }
        guard connected >= 0 else { throw lastError }
        fd = connected
        do throws(DBusError) {
            try authenticate(deadline: deadline)
            let reply = try call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                 interface: "org.freedesktop.DBus", member: "Hello", milliseconds: max(deadline - DBusConnection.now(), 1))
            uniqueName = reply.body.first?.stringValue ?? ""
        } catch {
            // (deinit closes the descriptor.)
            throw error.name == nil ? DBusError(error.message, unreachable: true) : error
        }
    }

    deinit { close(fd) }

    /// Calls a method and returns its reply; an error reply throws its name and message.
    @discardableResult
    public func call(destination: String, path: String, interface: String, member: String, body: [DBusValue] = [],
                     milliseconds: Int = 5000) throws(DBusError) -> DBusMessage {
        serial += 1
        var message = DBusMessage(kind: .methodCall, path: path, interface: interface, member: member,
                                  destination: destination, body: body)
        message.serial = serial
        try send(message.encoded())
        let deadline = DBusConnection.now() + milliseconds
        while true {
            let incoming = try receive(deadline: deadline, what: "the reply to \(member)")
            guard incoming.replySerial == message.serial, incoming.kind == .methodReturn || incoming.kind == .error else {
                if incoming.kind == .signal { queued.append(incoming) }
                continue
            }
            if incoming.kind == .error {
                throw DBusError(incoming.body.first?.stringValue ?? "", name: incoming.errorName ?? "org.freedesktop.DBus.Error.Failed")
            }
            return incoming
        }
    }

    /// The first signal (already queued or arriving before the deadline) `matches` accepts;
    /// others stay queued.
    public func waitForSignal(milliseconds: Int, what: String, _ matches: (DBusMessage) -> Bool) throws(DBusError) -> DBusMessage {
        if let index = queued.firstIndex(where: matches) { return queued.remove(at: index) }
        let deadline = DBusConnection.now() + milliseconds
        while true {
            let incoming = try receive(deadline: deadline, what: what)
            guard incoming.kind == .signal else { continue }
            if matches(incoming) { return incoming }
            queued.append(incoming)
        }
    }

    // MARK: - Wire

    private func authenticate(deadline: Int) throws(DBusError) {
        let uid = String(getuid())
        let hex = uid.utf8.map { String($0, radix: 16) }.joined()
        try send([0] + Array("AUTH EXTERNAL \(hex)\r\n".utf8))
        var line: [UInt8] = []
        while !(line.count >= 2 && line.suffix(2) == [13, 10]) {
            line += try readSome(deadline: deadline, what: "the bus's answer to AUTH EXTERNAL")
        }
        guard line.starts(with: Array("OK ".utf8)) else {
            let answer = String(decoding: line.dropLast(2), as: UTF8.self)
            throw DBusError("bus refused EXTERNAL authentication as uid \(uid): \"\(answer)\"", unreachable: true)
        }
        try send(Array("BEGIN\r\n".utf8))
    }

    private func send(_ bytes: [UInt8]) throws(DBusError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DBusError("bus: send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    private func readSome(deadline: Int, what: String) throws(DBusError) -> [UInt8] {
        while true {
            let left = deadline - DBusConnection.now()
            guard left > 0 else { throw DBusError("bus: no \(what) within the time allowed") }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&p, 1, Int32(left))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 8192)
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else {
                throw DBusError("bus: connection closed while waiting for \(what)" + (n < 0 ? ": \(String(cString: strerror(errno)))" : ""))
            }
            return Array(buffer[0..<n])
        }
    }

    private func receive(deadline: Int, what: String) throws(DBusError) -> DBusMessage {
        while true {
            if let length = try DBusMessage.length(of: input[...]), input.count >= length {
                let bytes = Array(input[0..<length])
                input.removeFirst(length)
                return try DBusMessage.decode(bytes)
            }
            input += try readSome(deadline: deadline, what: what)
        }
    }

    // MARK: - Addresses

    enum Socket: Equatable {
        case path(String)
        case abstract(String)
    }

    /// `unix:path=/run/user/1000/bus[,guid=...]` or `unix:abstract=/tmp/dbus-X`; values may be
    /// %-escaped.
    static func parse(_ address: String) -> Socket? {
        guard address.hasPrefix("unix:") else { return nil }
        for pair in address.dropFirst(5).split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let value = unescape(kv[1])
            if kv[0] == "path" { return .path(value) }
            if kv[0] == "abstract" { return .abstract(value) }
        }
        return nil
    }

    private static func unescape(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let first = utf8.first {
            if first == UInt8(ascii: "%"), utf8.count >= 3,
               let value = UInt8(String(decoding: utf8.dropFirst().prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(first)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func connect(_ socket: Socket) throws(DBusError) -> Int32 {
        switch socket {
        case .path(let path):
            do {
                return try UnixSocket.connect(path)
            } catch {
                throw DBusError("bus: \(error)", unreachable: true)
            }
        case .abstract(let name):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(name.utf8)
            guard bytes.count + 1 < MemoryLayout.size(ofValue: address.sun_path) else {
                throw DBusError("bus: abstract socket name too long", unreachable: true)
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in bytes.enumerated() { raw[i + 1] = byte }
            }
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw DBusError("bus: socket: \(String(cString: strerror(errno)))", unreachable: true) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            guard rc == 0 else {
                let text = String(cString: strerror(errno))
                close(fd)
                throw DBusError("bus: connect @\(name): \(text)", unreachable: true)
            }
            return fd
        }
    }

    static func now() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}
