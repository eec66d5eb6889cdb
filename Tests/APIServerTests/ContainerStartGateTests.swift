import Synchronization
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

/// Starts of one container never overlap; starts of different containers do not wait for each other.
struct ContainerStartGateTests {
    final class Box: @unchecked Sendable {
        let inside = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let done = Atomic<Int>(0)
    }

    static func run(_ gate: ContainerStartGate, ids: [String], box: Box) {
        var threads: [pthread_t] = []
        for id in ids {
            final class Work { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }
            let work = Work {
                gate.withStart(of: id) {
                    let now = box.inside.add(1, ordering: .sequentiallyConsistent).newValue
                    _ = box.most.max(now, ordering: .sequentiallyConsistent)
                    usleep(20_000)
                    box.inside.subtract(1, ordering: .sequentiallyConsistent)
                }
                box.done.add(1, ordering: .sequentiallyConsistent)
            }
            var thread = pthread_t()
            let context = Unmanaged.passRetained(work).toOpaque()
            let created = pthread_create(&thread, nil, { context in
                let work = Unmanaged<Work>.fromOpaque(context!).takeRetainedValue()
                work.body()
                return nil
            }, context)
            #expect(created == 0)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    @Test func startsOfOneContainerRunOneAtATime() {
        let gate = ContainerStartGate(), box = Box()
        Self.run(gate, ids: Array(repeating: String(repeating: "a", count: 64), count: 8), box: box)
        #expect(box.done.load(ordering: .sequentiallyConsistent) == 8)
        #expect(box.most.load(ordering: .sequentiallyConsistent) == 1)
    }

    @Test func startsOfDifferentContainersRunTogether() {
        let gate = ContainerStartGate(), box = Box()
        Self.run(gate, ids: (0..<4).map { String(repeating: "\($0)", count: 64) }, box: box)
        #expect(box.done.load(ordering: .sequentiallyConsistent) == 4)
        #expect(box.most.load(ordering: .sequentiallyConsistent) > 1)
    }
}
