import ContainerLogs
import NIOCore
import Platform

/// One started exec's hijacked connection (`POST /exec/{id}/start` without `Detach`): the
/// relaying is an attach's (`AttachSession` to the exec supervisor's attach socket); this adds
/// the start. Once the attach connection is queued on the supervisor's socket, the supervisor
/// is told to start the process, so the client sees its first byte of output. A failure to
/// start comes through the stream, written by the supervisor (as moby writes it), and the
/// supervisor closes the stream. An exec that could not even be prepared (its user) writes its
/// failure itself.
final class ExecSession: HijackSession, @unchecked Sendable {
    private let inner: AttachSession
    private let launch: ExecLaunch?
    private let failure: String?
    private let engine: Engine
    private let execID: String
    private let tty: Bool
    private var started = false

    init(inner: AttachSession, launch: ExecLaunch?, failure: String?, engine: Engine, execID: String, tty: Bool) {
        self.inner = inner
        self.launch = launch
        self.failure = failure
        self.engine = engine
        self.execID = execID
        self.tty = tty
    }

    func start(client: any Channel, pool: BlockingPool) {
        started = true
        guard let launch else {
            var bytes = Array(((failure ?? "exec could not start") + "\r\n").utf8)
            if !tty { bytes = StreamFrame.frame(.stdout, bytes[...]) }
            client.writeAndFlush(client.allocator.buffer(bytes: bytes)).whenComplete { _ in client.close(promise: nil) }
            return
        }
        inner.start(client: client, pool: pool)
        let engine = self.engine, execID = self.execID
        pool.run(on: client.eventLoop) { () -> Bool in
            engine.attachments.waitForExpected(containerID: execID)
            do {
                try launch.start()
            } catch {
                // The supervisor recorded the failure and wrote it to the stream.
            }
            launch.finish()
            return true
        }.whenComplete { _ in }
    }

    func clientRead(_ buffer: ByteBuffer) {
        inner.clientRead(buffer)
    }

    func clientInputClosed() {
        inner.clientInputClosed()
    }

    func clientClosed() {
        // Gone before the switch: the supervisor gives up (the exec ends with 126).
        if !started { launch?.finish() }
        inner.clientClosed()
    }

    func clientWritabilityChanged(_ writable: Bool) {
        inner.clientWritabilityChanged(writable)
    }
}
