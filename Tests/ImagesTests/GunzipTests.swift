import Glibc
import Store
import Testing
@testable import Images

struct GunzipTests {
    /// Bytes that compress a little, not a run of one value.
    static func sample(_ count: Int) -> [UInt8] {
        var state: UInt32 = 12345
        return (0..<count).map { i in
            state = state &* 1_103_515_245 &+ 12345
            return i % 3 == 0 ? UInt8(truncatingIfNeeded: state >> 16) : UInt8(truncatingIfNeeded: i % 17)
        }
    }

    static func expectError(_ message: (String) -> Bool, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error")
        } catch {
            let error = error as? ImageError
            #expect(error?.code == .invalidArgument)
            #expect(message(error?.message ?? ""), "message: \(String(describing: error))")
        }
    }

    @Test(arguments: [(1, 4096), (7, 1), (64 << 10, 65536), (3, 100_000)])
    func roundTrips(inputBufferSize: Int, outputChunk: Int) throws {
        let data = GunzipTests.sample(300_000)
        let gunzip = try Gunzip(source: BufferByteSource(gzip(data)), limit: 1 << 30, inputBufferSize: inputBufferSize)
        #expect(try drain(gunzip, chunk: outputChunk) == data)
        #expect(gunzip.totalOut == data.count)
    }

    @Test func emptyPayload() throws {
        let gunzip = try Gunzip(source: BufferByteSource(gzip([])), limit: 0)
        #expect(try drain(gunzip) == [])
    }

    @Test func concatenatedMembersAreOneStream() throws {
        let a = GunzipTests.sample(70_000), b = Array("second member".utf8), c = GunzipTests.sample(5)
        let gunzip = try Gunzip(source: BufferByteSource(gzip(a) + gzip(b) + gzip([]) + gzip(c)), limit: 1 << 20,
                                inputBufferSize: 1000)
        #expect(try drain(gunzip) == a + b + c)
    }

    @Test func truncatedStreamFails() throws {
        let compressed = gzip(GunzipTests.sample(100_000))
        for cut in [compressed.count - 1, compressed.count - 8, compressed.count / 2, 5] {
            let gunzip = try Gunzip(source: BufferByteSource(Array(compressed[..<cut])), limit: 1 << 20)
            GunzipTests.expectError({ $0 == "gzip stream is truncated after \(cut) bytes" }) {
                _ = try drain(gunzip)
            }
        }
    }

    @Test func emptyInputIsNotGzip() throws {
        let gunzip = try Gunzip(source: BufferByteSource([]), limit: 100)
        GunzipTests.expectError({ $0 == "gzip stream is truncated after 0 bytes" }) { _ = try drain(gunzip) }
    }

    @Test func corruptDataFails() throws {
        var compressed = gzip(GunzipTests.sample(10_000))
        compressed[compressed.count - 6] ^= 0xff  // the CRC-32 / length trailer
        let gunzip = try Gunzip(source: BufferByteSource(compressed), limit: 1 << 20)
        GunzipTests.expectError({ $0.hasPrefix("invalid gzip data after ") }) { _ = try drain(gunzip) }

        let plain = try Gunzip(source: BufferByteSource(Array("not gzip at all".utf8)), limit: 1 << 20)
        GunzipTests.expectError({ $0 == "invalid gzip data after 2 bytes: incorrect header check" }) {
            _ = try drain(plain)
        }
    }

    @Test func trailingGarbageAfterAMemberFails() throws {
        let gunzip = try Gunzip(source: BufferByteSource(gzip(Array("x".utf8)) + [1, 2, 3, 4]), limit: 100)
        GunzipTests.expectError({ $0.hasPrefix("invalid gzip data after ") }) { _ = try drain(gunzip) }
    }

    @Test func limitIsExact() throws {
        let data = GunzipTests.sample(10_000)
        let atLimit = try Gunzip(source: BufferByteSource(gzip(data)), limit: 10_000)
        #expect(try drain(atLimit) == data)
        let below = try Gunzip(source: BufferByteSource(gzip(data)), limit: 9_999)
        GunzipTests.expectError({ $0 == "layer expands beyond the limit of 9999 bytes" }) { _ = try drain(below) }
    }

    /// 1 GiB of zeros (one member, about 1 MiB compressed; and 64 concatenated members of
    /// 16 MiB) against a 10 MB limit: fails after 10 MB of work, and memory does not grow with
    /// the output. (Max RSS is a high-water mark shared with tests running in parallel, so the
    /// printed growth is an upper bound of what this test added.)
    @Test func gzipBombFailsFastInBoundedMemory() throws {
        let single = gzipZeros(count: 1 << 30)
        let member = gzipZeros(count: 16 << 20)
        var concatenated: [UInt8] = []
        for _ in 0..<64 { concatenated += member }

        for (name, compressed) in [("1 GiB in one member", single), ("1 GiB in 64 members", concatenated)] {
            let before = GunzipTests.maxRSSKiB()
            let start = GunzipTests.now()
            let limit = 10_000_000
            let gunzip = try Gunzip(source: BufferByteSource(compressed), limit: limit)
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            var produced = 0
            do {
                while true {
                        let n = try buffer.withUnsafeMutableBytes { try gunzip.read(into: $0) }
                    if n == 0 { break }
                    produced += n
                }
                Issue.record("the bomb was not stopped")
            } catch {
                #expect((error as? ImageError)?.message == "layer expands beyond the limit of 10000000 bytes")
            }
            #expect(produced <= limit)
            #expect(gunzip.totalIn < compressed.count / 4)
            let grown = GunzipTests.maxRSSKiB() - before
            print("gzip bomb (\(name), \(compressed.count) bytes compressed): stopped after \(produced) bytes "
                  + "and \(gunzip.totalIn) compressed bytes in \(Int((GunzipTests.now() - start) * 1000)) ms, "
                  + "max RSS grew by \(grown) KiB")
            #expect(grown < 64 << 10)
        }
    }

    static func maxRSSKiB() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

struct GzipSinkTests {
    @Test func whatItWritesGunzipsBack() throws {
        let data = (0..<600_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        let buffer = BufferByteSink()
        let sink = try GzipSink(into: buffer)
        for chunk in stride(from: 0, to: data.count, by: 70_001) {
            try data[chunk..<min(chunk + 70_001, data.count)].withUnsafeBytes { try sink.write($0) }
        }
        try sink.finish()
        #expect(buffer.bytes.starts(with: [0x1f, 0x8b]))
        #expect(try drain(Gunzip(source: BufferByteSource(buffer.bytes), limit: 1 << 20)) == data)
    }

    @Test func anEmptyStreamIsAValidMember() throws {
        let buffer = BufferByteSink()
        let sink = try GzipSink(into: buffer)
        try sink.finish()
        #expect(try drain(Gunzip(source: BufferByteSource(buffer.bytes), limit: 16)) == [])
    }
}
