import MonitorProtocol
import Platform
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Attach sessions that wait for their container's monitor, per container id.
///
/// The docker CLI's `docker run` attaches while the container is still `created` (no monitor,
/// no attach socket yet), then calls `/wait`, then `/start`; `docker start -a` does the same.
/// Such a session waits here. The start operation, once the monitor has reported `created`
/// (its attach socket listens) and before it sends `start`, calls
///
///     engine.attachments.connectPending(containerID: id, attachSocketDirectory: runDirectory)
///
/// which connects every waiting session to `<runDirectory>/attach` and sends its mask byte, so
/// the monitor accepts them before the program runs and they see its first byte of output.
/// A session that attaches to a container whose monitor listens connects at once; one that
/// attaches to an exited container waits for the next start, or for its client to leave.
/// Waiting sessions also try the socket every `retryMilliseconds`: a container started by
/// another service process, or restarted by its monitor, is found that way (later than
/// through `connectPending`, so possibly after its first output).
public final class AttachRegistry: Sendable {
    private let pending = Mutex<[String: [AttachSession]]>([:])
    /// Attaches answered (or about to be) but not yet in `pending`: the client may send
    /// `/start` as soon as it has the 101, before its session has registered. A start waits
    /// for them (`connectPending`), so it never runs the program before they are connected.
    private let expected = Mutex<[String: Int]>([:])

    public init() {}

    /// Called by the attach handler before it answers: the session it makes will register
    /// (`attachOrWait`) or end, and either gives the ticket back.
    func expect(containerID: String) -> AttachTicket {
        expected.withLock { $0[containerID, default: 0] += 1 }
        return AttachTicket(registry: self, containerID: containerID)
    }

    fileprivate func redeem(_ containerID: String) {
        expected.withLock { counts in
            let left = (counts[containerID] ?? 1) - 1
            counts[containerID] = left > 0 ? left : nil
        }
    }

    /// Waits (briefly) until no attach of `containerID` is between its answer and its
    /// registration.
    func waitForExpected(containerID: String, timeoutMilliseconds: Int = 2000) {
        var waited = 0
        while expected.withLock({ $0[containerID] ?? 0 }) > 0 && waited < timeoutMilliseconds * 4 {
            usleep(250)
            waited += 1
        }
    }

    /// Connects every session waiting for `containerID` to the monitor's attach socket in
    /// `attachSocketDirectory` (`<run>/containers/<id>`) and sends each its mask byte; then they
    /// relay on their own. Returns when every connection is made (queued on the monitor's
    /// socket), so a `start` sent afterwards finds them. A session whose connection fails is
    /// ended (its client sees the end of the stream; `docker run` must not wait forever).
    /// Returns how many sessions were connected.
    @discardableResult
    public func connectPending(containerID: String, attachSocketDirectory: String) -> Int {
        waitForExpected(containerID: containerID)
        var connected: [(AttachSession, Int32)] = []
        var failed: [AttachSession] = []
        pending.withLock { pending in
            for session in pending.removeValue(forKey: containerID) ?? [] {
                if let fd = AttachRegistry.open(session, directory: attachSocketDirectory) {
                    connected.append((session, fd))
                } else {
                    failed.append(session)
                }
            }
        }
        for (session, fd) in connected { session.connected(fd: fd) }
        for session in failed { session.cancel() }
        return connected.count
    }

    /// Ends every session waiting for `containerID` (the container is being removed).
    public func cancelPending(containerID: String) {
        let sessions = pending.withLock { $0.removeValue(forKey: containerID) ?? [] }
        for session in sessions { session.cancel() }
    }

    /// How many sessions wait for `containerID`.
    public func pendingCount(containerID: String) -> Int {
        pending.withLock { $0[containerID]?.count ?? 0 }
    }

    /// Connects `session` now when the monitor's attach socket accepts, else keeps it until
    /// `connectPending`. Both happen under one lock with `connectPending`, so a session never
    /// falls between a start's connect and its own check.
    func attachOrWait(_ session: AttachSession, directory: String) {
        let fd: Int32? = pending.withLock { pending in
            if let fd = AttachRegistry.open(session, directory: directory) { return fd }
            pending[session.options.containerID, default: []].append(session)
            return nil
        }
        session.options.ticket?.give()
        if let fd { session.connected(fd: fd) }
    }

    static let retryMilliseconds: Int64 = 250

    /// Tries a waiting session's socket again; true when it is no longer waiting (connected,
    /// or gone from the registry).
    func retry(_ session: AttachSession, directory: String) -> Bool {
        let result: (waiting: Bool, fd: Int32?) = pending.withLock { pending in
            let id = session.options.containerID
            guard var sessions = pending[id], sessions.contains(where: { $0 === session }) else { return (false, nil) }
            guard let fd = AttachRegistry.open(session, directory: directory) else { return (true, nil) }
            sessions.removeAll { $0 === session }
            pending[id] = sessions.isEmpty ? nil : sessions
            return (false, fd)
        }
        if let fd = result.fd { session.connected(fd: fd) }
        return !result.waiting
    }

    func remove(_ session: AttachSession) {
        pending.withLock { pending in
            let id = session.options.containerID
            guard var sessions = pending[id] else { return }
            sessions.removeAll { $0 === session }
            pending[id] = sessions.isEmpty ? nil : sessions
        }
    }

    /// A connection to the attach socket with the session's mask byte sent; nil when nothing
    /// listens there.
    private static func open(_ session: AttachSession, directory: String) -> Int32? {
        guard let fd = try? MonitorConnection.connect(directory: directory, name: ContainerPaths.attachName) else {
            return nil
        }
        guard MonitorConnection.writeAll(fd, [session.options.mask.byte]) else {
            close(fd)
            return nil
        }
        return fd
    }
}

/// One attach between its answer and its registration (`AttachRegistry.expect`). Given back
/// once, by the registration or by the session's end, whichever comes first.
final class AttachTicket: Sendable {
    private let registry: AttachRegistry
    private let containerID: String
    private let given = Mutex(false)

    fileprivate init(registry: AttachRegistry, containerID: String) {
        self.registry = registry
        self.containerID = containerID
    }

    func give() {
        let first = given.withLock { done in
            defer { done = true }
            return !done
        }
        if first { registry.redeem(containerID) }
    }

    deinit { give() }
}
