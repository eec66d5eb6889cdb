#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with a condition variable, for what NIOLock and Synchronization's Mutex do
/// not offer: a lock that may only be tried (an event loop never waits), and waiting under the
/// lock for another thread's `broadcast`.
public final class PosixMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Takes the lock if it is free; false at once otherwise.
    public func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    /// Lets go of the lock (held by the caller) until another thread's `broadcast`, and takes it
    /// again before it returns (possibly without a broadcast: check the condition in a loop).
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Wakes every thread in `wait`.
    public func broadcast() { pthread_cond_broadcast(condition) }
}
