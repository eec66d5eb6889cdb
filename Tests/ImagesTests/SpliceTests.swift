import CLinux
import Foundation
import Glibc
import Platform
import Testing
@testable import Images

/// A tar arriving through a pipe (the `PUT /containers/{id}/archive` worker's standard input):
/// file contents are spliced from the pipe into the files, what the reader holds in memory is
/// written, and the size limit counts spliced bytes too.
struct SpliceTests {
    /// Applies `archive` fed through a pipe by another thread, in `chunk`-byte writes.
    static func applyThroughPipe(_ archive: [UInt8], into scratch: LayerScratch, limit: Int = 1 << 30,
                                 chunk: Int = 65_536) throws -> LayerApplier.Summary {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        let writeEnd = ends[1]
        let writer = Thread {
            var offset = 0
            archive.withUnsafeBytes { all in
                while offset < all.count {
                    let n = write(writeEnd, all.baseAddress! + offset, min(chunk, all.count - offset))
                    if n <= 0 { break }
                    offset += n
                }
            }
            close(writeEnd)
        }
        writer.start()
        defer { close(ends[0]) }
        let body = try PeekedSource(FileByteSource(fd: ends[0], name: "the pipe"), count: 4)
        let source = LimitedSource(body, limit: limit)
        do {
            let summary = try LayerApplier(root: scratch.root, options: .init()).apply(TarReader(source: source))
            return summary
        } catch {
            // Let the writer finish (it blocks on a full pipe otherwise).
            var sink = [UInt8](repeating: 0, count: 65_536)
            while sink.withUnsafeMutableBytes({ read(ends[0], $0.baseAddress, $0.count) }) > 0 {}
            throw error
        }
    }

    static func pattern(_ count: Int, seed: Int) -> String {
        String((0..<count).map { Character(UnicodeScalar(UInt8(97 + ($0 * 7 + seed) % 26))) })
    }

    @Test(arguments: [512, 4096, 65_536, 1 << 20])
    func contentsArriveWhole(chunk: Int) throws {
        let scratch = LayerScratch()
        var tar = TarWriter()
        let big = SpliceTests.pattern(3 << 20 | 123, seed: 1)
        let small = SpliceTests.pattern(700, seed: 2)
        tar.directory("d/")
        tar.file("d/big", big)
        tar.file("d/empty", "")
        tar.file("d/small", small)
        tar.file("d/second", big)
        let summary = try SpliceTests.applyThroughPipe(tar.finish(), into: scratch, chunk: chunk)
        #expect(scratch.contents("d/big") == big)
        #expect(scratch.contents("d/second") == big)
        #expect(scratch.contents("d/small") == small)
        #expect(scratch.contents("d/empty") == "")
        #expect(summary.bytes == 2 * big.utf8.count + small.utf8.count)
    }

    @Test func theLimitCountsSplicedBytes() throws {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.file("big", SpliceTests.pattern(2 << 20, seed: 3))
        do {
            _ = try SpliceTests.applyThroughPipe(tar.finish(), into: scratch, limit: 1 << 20)
            Issue.record("expected the limit to refuse the archive")
        } catch {
            #expect((error as? ImageError)?.message == "layer is larger than the limit of 1048576 bytes")
        }
    }

    @Test func aTruncatedEntryIsRefused() throws {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.file("big", SpliceTests.pattern(1 << 20, seed: 4))
        let archive = Array(tar.finish().prefix(512 + 300_000))
        do {
            _ = try SpliceTests.applyThroughPipe(archive, into: scratch)
            Issue.record("expected a truncation error")
        } catch {
            let error = error as? ImageError
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("truncated") == true, "\(String(describing: error))")
        }
    }
}
