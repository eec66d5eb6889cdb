import CLinux
import NIOCore
import Synchronization
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

/// The body of a following route (`docker cp` in): bounded while the handler falls behind,
/// resumed when it catches up, ended, aborted and discarded as the connection decides.
@Suite struct BodyFeedTests {
    final class Resumes: Sendable {
        let count = Mutex(0)
    }

    static func chunk(_ size: Int, _ byte: UInt8 = 0x61) -> ByteBuffer {
        ByteBuffer(bytes: [UInt8](repeating: byte, count: size))
    }

    @Test func pausesPastTheHighWaterMarkAndResumesAtTheLowOne() throws {
        let resumes = Resumes()
        let feed = BodyFeed(resume: { resumes.count.withLock { $0 += 1 } })
        let size = 512 << 10
        var paused = false
        var pushed = 0
        while !paused {
            paused = feed.push(Self.chunk(size))
            pushed += 1
        }
        // Paused only once more than the high-water mark waits.
        #expect(pushed * size > BodyFeed.highWater)
        #expect((pushed - 1) * size <= BodyFeed.highWater)
        // Taking chunks resumes reading once, when what waits is down to the low-water mark.
        var taken = 0
        while (pushed - taken) * size > BodyFeed.lowWater {
            #expect(resumes.count.withLock { $0 } == 0)
            _ = try feed.next()
            taken += 1
        }
        #expect(resumes.count.withLock { $0 } == 1)
        feed.finish()
        while try feed.next() != nil { taken += 1 }
        #expect(taken == pushed)
        #expect(resumes.count.withLock { $0 } == 1)
    }

    @Test func copiesTheBodyInOrderAndEndsAtItsEnd() throws {
        let feed = BodyFeed(resume: {})
        var fds: [Int32] = [-1, -1]
        #expect(skiff_pipe2(&fds, O_CLOEXEC) == 0)
        defer { close(fds[0]) }
        _ = feed.push(Self.chunk(3, 0x31))
        _ = feed.push(Self.chunk(2, 0x32))
        feed.finish()
        #expect(try feed.copy(to: fds[1]) == nil)
        close(fds[1])
        var got = [UInt8](repeating: 0, count: 16)
        let n = read(fds[0], &got, got.count)
        #expect(Array(got[..<max(n, 0)]) == Array("11122".utf8))
    }

    @Test func manyChunksThroughASmallPipeArriveWholeAndInOrder() async throws {
        // One writev takes what waits; a short write (the pipe full) goes on from where it stopped.
        let feed = BodyFeed(resume: {})
        var fds: [Int32] = [-1, -1]
        #expect(skiff_pipe2(&fds, O_CLOEXEC) == 0)
        _ = fcntl(fds[1], SKIFF_F_SETPIPE_SZ, Int32(4096))
        var expected: [UInt8] = []
        for i in 0..<200 {
            let size = 1 + (i * 7919) % 9000
            let byte = UInt8(0x41 + i % 26)
            _ = feed.push(Self.chunk(size, byte))
            expected += [UInt8](repeating: byte, count: size)
        }
        feed.finish()
        let readEnd = fds[0]
        let total = expected.count
        let reader = Task.detached { () -> [UInt8] in
            var got: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1000)
            while got.count < total {
                let n = read(readEnd, &buffer, buffer.count)
                if n <= 0 { break }
                got += buffer[..<n]
            }
            return got
        }
        #expect(try feed.copy(to: fds[1]) == nil)
        close(fds[1])
        let got = await reader.value
        close(fds[0])
        #expect(got.count == expected.count)
        #expect(got == expected)
    }

    @Test func aClientGoneBeforeTheEndIsAFailureNotAnEnd() throws {
        let feed = BodyFeed(resume: {})
        _ = feed.push(Self.chunk(10))
        feed.abort()
        #expect(throws: BodyFeed.Failure.clientGone) { _ = try feed.next() }
        // After the end, a closed connection is not an abort.
        let ended = BodyFeed(resume: {})
        ended.finish()
        ended.abort()
        #expect(try ended.next() == nil)
    }

    @Test func aReaderGoneDiscardsTheRestAndResumesReading() throws {
        let resumes = Resumes()
        let feed = BodyFeed(resume: { resumes.count.withLock { $0 += 1 } })
        var fds: [Int32] = [-1, -1]
        #expect(skiff_pipe2(&fds, O_CLOEXEC) == 0)
        close(fds[0])
        while !feed.push(Self.chunk(1 << 20)) {}
        // The pipe's reader is gone: EPIPE (the test process ignores SIGPIPE as the service does).
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        #expect(try feed.copy(to: fds[1]) == EPIPE)
        close(fds[1])
        #expect(resumes.count.withLock { $0 } == 1)
        // Later chunks are dropped, never queued.
        #expect(feed.push(Self.chunk(BodyFeed.highWater * 2)) == false)
        feed.finish()
        #expect(try feed.next() == nil)
    }
}
