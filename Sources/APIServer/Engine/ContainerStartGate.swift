#if canImport(Glibc)
import Glibc
#endif

/// One start of a container at a time (start, restart, and so `docker run`), as moby holds the
/// container's lock while it starts one. Two starts of the same created container used to run
/// side by side: both spawned a monitor, the second runtime found the first one's container and
/// the request failed with 500 "container ... already exists" (found by test_fuzz.py). Now the
/// second waits for the first and then looks at the row again: running, it answers 304.
final class ContainerStartGate: @unchecked Sendable {
    private var starting: Set<String> = []
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let released: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        released = .allocate(capacity: 1)
        released.initialize(to: pthread_cond_t())
        pthread_cond_init(released, nil)
    }

    deinit {
        pthread_cond_destroy(released)
        released.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` once no other start of container `id` (a full id) runs, and none starts
    /// while it does.
    func withStart<T>(of id: String, _ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        while starting.contains(id) { pthread_cond_wait(released, mutex) }
        starting.insert(id)
        pthread_mutex_unlock(mutex)
        defer {
            pthread_mutex_lock(mutex)
            starting.remove(id)
            pthread_cond_broadcast(released)
            pthread_mutex_unlock(mutex)
        }
        return try body()
    }
}
