import CLinux
import ContainerLogs
import MonitorProtocol

#if canImport(Glibc)
import Glibc
#endif

/// One connection on the attach socket: its mask (once its first byte came), the output it has
/// not taken yet, and whether it still sends.
final class AttachClient {
    let fd: Int32
    var mask: AttachMask?
    /// Output not yet sent, from `pendingStart` on.
    private(set) var pending: [UInt8] = []
    private var pendingStart = 0
    /// The client half-closed (or sent its last byte): no more reading.
    var inputClosed = false
    /// The connection failed or ended: to be closed.
    var isDead = false

    init(fd: Int32) {
        self.fd = fd
    }

    var backlog: Int { pending.count - pendingStart }

    func wants(_ stream: LogStream) -> Bool {
        guard let mask else { return false }
        return mask.contains(stream == .stdout ? .stdout : .stderr)
    }

    /// Queues output and sends what the socket takes now.
    func enqueue(_ bytes: UnsafeRawBufferPointer) {
        guard !isDead, bytes.count > 0 else { return }
        if backlog == 0 {
            let n = skiff_monitor_send(fd, bytes.baseAddress, bytes.count)
            if n < 0 && n != -Int(EAGAIN) {
                isDead = true
                return
            }
            let sent = max(0, n)
            if sent == bytes.count { return }
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[sent...]))
        } else {
            pending.append(contentsOf: bytes)
        }
    }

    /// Sends queued output; true when nothing is left.
    @discardableResult
    func flush() -> Bool {
        while backlog > 0 && !isDead {
            let n = pending.withUnsafeBytes { raw in
                skiff_monitor_send(fd, raw.baseAddress! + pendingStart, raw.count - pendingStart)
            }
            if n == -Int(EAGAIN) { break }
            if n <= 0 {
                isDead = true
                break
            }
            pendingStart += n
        }
        if backlog == 0 || isDead {
            // Give the memory back: a burst must not stay with the monitor.
            pending = []
            pendingStart = 0
        } else if pendingStart > 64 << 10 {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
        return backlog == 0
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
        isDead = true
        pending = []
        pendingStart = 0
    }
}

/// One connection on the control socket.
final class ControlClient {
    let fd: Int32
    var lines = LineSplitter()
    var isDead = false

    init(fd: Int32) {
        self.fd = fd
    }
}
