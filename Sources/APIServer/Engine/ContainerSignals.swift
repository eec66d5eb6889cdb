import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Wakes the waits of a container (`ContainerWaiter`) when this service changed its row: a
/// start answered, a start that failed, a removal. What the monitor changes is followed through
/// the monitor's pidfd instead; each wait has one eventfd here while it waits.
final class ContainerSignals: Sendable {
    private let waiting = Mutex<[String: [Int32]]>([:])

    /// An eventfd that `signal(id)` makes readable; -1 when none can be made (the wait then
    /// looks again on its timeout only).
    func register(_ id: String) -> Int32 {
        let fd = skiff_eventfd()
        guard fd >= 0 else { return -1 }
        waiting.withLock { $0[id, default: []].append(fd) }
        return fd
    }

    /// Forgets and closes a registered eventfd.
    func unregister(_ id: String, _ fd: Int32) {
        guard fd >= 0 else { return }
        waiting.withLock { table in
            table[id]?.removeAll { $0 == fd }
            if table[id]?.isEmpty == true { table[id] = nil }
        }
        close(fd)
    }

    /// Wakes every wait of `id`.
    func signal(_ id: String) {
        waiting.withLock { table in
            var one: UInt64 = 1
            for fd in table[id] ?? [] { _ = write(fd, &one, 8) }
        }
    }

    /// Empties a readable eventfd (so that the next poll waits again).
    static func drain(_ fd: Int32) {
        var count: UInt64 = 0
        _ = read(fd, &count, 8)
    }
}
