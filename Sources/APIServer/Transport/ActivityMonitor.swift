import NIOCore
import Synchronization

/// Carries out the `IdleTimer`'s decisions: schedules checks on an event loop and, once, calls
/// `onExit` when the service should stop.
final class ActivityMonitor: Sendable {
    private let timer: Mutex<IdleTimer>
    private let loop: any EventLoop
    private let exited = Atomic<Bool>(false)
    private let onExit: @Sendable () -> Void

    init(timeoutSeconds: Int, loop: any EventLoop, onExit: @escaping @Sendable () -> Void) {
        self.timer = Mutex(IdleTimer(timeout: UInt64(max(0, timeoutSeconds)) * 1_000_000_000))
        self.loop = loop
        self.onExit = onExit
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    func started() { perform(timer.withLock { $0.started(now: Self.now()) }) }
    func begin() { perform(timer.withLock { $0.begin() }) }
    func end() { perform(timer.withLock { $0.end(now: Self.now()) }) }
    func drain() { perform(timer.withLock { $0.drain() }) }

    private func check() { perform(timer.withLock { $0.check(now: Self.now()) }) }

    private func perform(_ action: IdleTimer.Action) {
        switch action {
        case .none:
            break
        case .scheduleCheck(let deadline):
            loop.scheduleTask(deadline: .uptimeNanoseconds(deadline)) { self.check() }
        case .releaseMemory(let next):
            MemoryTrim.releaseIdlePages()
            if let next {
                loop.scheduleTask(deadline: .uptimeNanoseconds(next)) { self.check() }
            }
        case .exit:
            if !exited.exchange(true, ordering: .acquiringAndReleasing) {
                onExit()
            }
        }
    }
}
