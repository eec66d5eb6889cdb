import CLinux
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// A container wait (`Engine.waitContainer`, for `POST /containers/{id}/wait`): it follows the
/// monitor's process with a pidfd, so an exit is seen as soon as it is recorded.
enum ContainerWaiter {
    /// Blocks until `condition` holds; returns the exit code and the container's error, if any.
    /// `abandoned`: the client went away or the service stops; the wait ends with an error.
    /// It looks at the row again when the monitor's process exits (its pidfd: the monitor
    /// writes the exit, the removal of an AutoRemove container, then exits), when this service
    /// starts or removes the container (`ContainerSignals`), and every `tick` milliseconds
    /// (a monitor that restarts the container stays).
    static func wait(_ initial: ContainerRecord, condition: String, engine: Engine,
                     abandoned: () -> Bool = { false }) throws -> (Int32, String?) {
        let tick: Int32 = 100
        let baseline = initial.finishedAt
        var last = initial
        var pidfd: Int32 = -1
        var watched: Int32 = 0
        let signal = engine.containerSignals.register(initial.id)
        defer {
            if pidfd >= 0 { close(pidfd) }
            engine.containerSignals.unregister(initial.id, signal)
        }
        while true {
            if abandoned() { throw EngineError(.unavailable, "the wait was abandoned") }
            let current = try engine.withStore { store in
                try store.container(id: initial.id).map { try engine.reconcile($0, store: store) }
            }
            guard let current else {
                // Removed. The exit code of an AutoRemove container is in its `die` event.
                if last.finishedAt == baseline && condition != "not-running",
                   let code = try engine.withStore({ try lastExitCode(initial.id, store: $0) }) {
                    return (code, nil)
                }
                return (last.exitCode, last.error.isEmpty ? nil : last.error)
            }
            last = current
            switch condition {
            case "not-running":
                if !current.isActive { return (current.exitCode, current.error.isEmpty ? nil : current.error) }
            case "next-exit":
                if !current.isActive && current.finishedAt != baseline { return (current.exitCode, nil) }
                if current.isActive && current.finishedAt != baseline && current.restartCount > initial.restartCount {
                    return (current.exitCode, nil)   // exited and restarted between two looks
                }
            default:
                break
            }
            if current.monitorPID != watched {
                if pidfd >= 0 { close(pidfd); pidfd = -1 }
                watched = current.monitorPID
                pidfd = openMonitor(current)
            }
            var fds = [pollfd]()
            if pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
            if signal >= 0 { fds.append(pollfd(fd: signal, events: Int16(POLLIN), revents: 0)) }
            if fds.isEmpty {
                usleep(UInt32(tick) * 1000)
                continue
            }
            _ = poll(&fds, nfds_t(fds.count), tick)
            if signal >= 0 { ContainerSignals.drain(signal) }
            if pidfd >= 0, fds[0].revents != 0 {
                // The monitor is gone: nothing more to follow there.
                close(pidfd)
                pidfd = -1
            }
        }
    }

    /// A pidfd on the container's monitor while that process lives (and is the one the row
    /// names: same start time), whatever the row's state: an exited AutoRemove container's
    /// monitor is still removing it. -1 otherwise.
    static func openMonitor(_ record: ContainerRecord) -> Int32 {
        guard record.monitorPID > 0 else { return -1 }
        let fd = skiff_pidfd_open(record.monitorPID)
        guard fd >= 0 else { return -1 }
        // Checked after the pidfd pins the pid: it cannot be reused under us from here on.
        guard ProcessStat.isAlive(record.monitorPID, startTime: record.monitorStartTime) else {
            close(fd)
            return -1
        }
        return fd
    }

    /// The exit code of the newest `die` event of `id`.
    static func lastExitCode(_ id: String, store: Store) throws -> Int32? {
        let events = try store.database.query(
            "SELECT attributes FROM events WHERE actor_id = ? AND action = 'die' ORDER BY seq DESC LIMIT 1", [.text(id)])
        guard let row = events.first, case .blob(let bytes) = row.values[0],
              let code = (try? JSONParser.parse(bytes))?["exitCode"]?.stringValue else { return nil }
        return Int32(code)
    }
}
