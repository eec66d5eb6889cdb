import Platform

/// One start of a container at a time (start, restart, and so `docker run`), as moby holds the
/// container's lock while it starts one. Two starts of the same created container used to run
/// side by side: both spawned a monitor, the second runtime found the first one's container and
/// the request failed with 500 "container ... already exists" (found by test_fuzz.py). Now the
/// second waits for the first and then looks at the row again: running, it answers 304.
final class ContainerStartGate: @unchecked Sendable {
    private var starting: Set<String> = []
    private let mutex = PosixMutex()

    /// Runs `body` once no other start of container `id` (a full id) runs, and none starts
    /// while it does.
    func withStart<T>(of id: String, _ body: () throws -> T) rethrows -> T {
        mutex.lock()
        while starting.contains(id) { mutex.wait() }
        starting.insert(id)
        mutex.unlock()
        defer {
            mutex.lock()
            starting.remove(id)
            mutex.broadcast()
            mutex.unlock()
        }
        return try body()
    }
}
