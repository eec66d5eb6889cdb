import Store
import Testing
@testable import Images

struct TarReaderTests {
    /// Every entry of an archive with its content.
    static func readAll(_ archive: [UInt8], bufferSize: Int = 64 << 10) throws -> [(TarEntry, [UInt8])] {
        let reader = TarReader(source: BufferByteSource(archive), bufferSize: bufferSize)
        var out: [(TarEntry, [UInt8])] = []
        while let entry = try reader.next() {
            var content: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 100)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { break }
                content += chunk[..<n]
            }
            out.append((entry, content))
        }
        return out
    }

    static func expectError(_ archive: [UInt8], _ message: (String) -> Bool) {
        do {
            _ = try readAll(archive)
            Issue.record("expected an error")
        } catch {
            let error = error as? ImageError
            #expect(error?.code == .invalidArgument)
            #expect(message(error?.message ?? ""), "message: \(String(describing: error))")
        }
    }

    @Test(arguments: [512, 4096, 64 << 10])
    func everyEntryType(bufferSize: Int) throws {
        var tar = TarWriter()
        tar.directory("etc/", mode: 0o755, uid: 1, gid: 2)
        tar.file("etc/hosts", "127.0.0.1 localhost\n", mode: 0o4755, uid: 1000, gid: 1001)
        tar.symlink("etc/link", to: "hosts")
        tar.hardlink("etc/hard", to: "etc/hosts")
        tar.characterDevice("dev/null", major: 1, minor: 3)
        tar.blockDevice("dev/sda", major: 8, minor: 0)
        tar.fifo("run/pipe")
        tar.file("big", String(repeating: "x", count: 70_000))
        let entries = try TarReaderTests.readAll(tar.finish(), bufferSize: bufferSize)
        #expect(entries.map(\.0.path) == ["etc/", "etc/hosts", "etc/link", "etc/hard", "dev/null", "dev/sda", "run/pipe", "big"])
        #expect(entries.map(\.0.kind) == [.directory, .regular, .symlink, .hardlink, .characterDevice, .blockDevice, .fifo, .regular])
        let hosts = entries[1].0
        #expect(hosts.mode == 0o4755 && hosts.uid == 1000 && hosts.gid == 1001 && hosts.mtime == 1_700_000_000)
        #expect(hosts.size == 20 && entries[1].1 == Array("127.0.0.1 localhost\n".utf8))
        #expect(entries[2].0.linkTarget == "hosts" && entries[3].0.linkTarget == "etc/hosts")
        #expect(entries[4].0.deviceMajor == 1 && entries[4].0.deviceMinor == 3)
        #expect(entries[5].0.deviceMajor == 8 && entries[5].0.deviceMinor == 0)
        #expect(entries[7].1.count == 70_000)
    }

    @Test func unreadContentIsSkipped() throws {
        var tar = TarWriter()
        tar.file("a", String(repeating: "a", count: 1500))
        tar.file("b", "bee")
        let reader = TarReader(source: BufferByteSource(tar.finish()), bufferSize: 512)
        #expect(try reader.next()?.path == "a")
        #expect(try reader.next()?.path == "b")
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)
    }

    @Test(arguments: [TarWriter.LongNames.gnu, .pax])
    func longNamesAndLinks(_ style: TarWriter.LongNames) throws {
        let longName = (0..<30).map { "directory\($0)" }.joined(separator: "/") + "/file"
        let longTarget = "/" + String(repeating: "t", count: 300)
        var tar = TarWriter(longNames: style)
        tar.file(longName, "content")
        tar.symlink("short", to: longTarget)
        tar.hardlink(longName + "2", to: longName)
        let entries = try TarReaderTests.readAll(tar.finish())
        #expect(entries.map(\.0.path) == [longName, "short", longName + "2"])
        #expect(entries[0].1 == Array("content".utf8))
        #expect(entries[1].0.linkTarget == longTarget)
        #expect(entries[2].0.linkTarget == longName)
    }

    @Test func longFileNameWhoseHeaderCopyEndsInASlashStaysAFile() throws {
        var tar = TarWriter()
        tar.file(String(repeating: "long/", count: 40) + "name", "data")  // header keeps 90 bytes: "long/.../"
        let entries = try TarReaderTests.readAll(tar.finish())
        #expect(entries.count == 1 && entries[0].0.kind == .regular && entries[0].1 == Array("data".utf8))
    }

    @Test func paxRecordsOverrideTheHeader() throws {
        var tar = TarWriter()
        tar.globalPAX([("mtime", Array("1234".utf8)), ("comment", Array("made by a test".utf8))])
        tar.file("plain", "p")
        tar.file("ignored-name", "sized", pax: [
            ("path", Array("pax/name with ünïcode".utf8)),
            ("uid", Array("3000000".utf8)), ("gid", Array("4000000".utf8)),
            ("mtime", Array("1700000000.123456789".utf8)),
            ("SCHILY.xattr.user.test", Array("value\n=with equals".utf8)),
            ("SCHILY.xattr.security.capability", [1, 0, 0, 2, 0, 0x20, 0, 0]),
            ("atime", Array("1.5".utf8)),
        ])
        let entries = try TarReaderTests.readAll(tar.finish())
        #expect(entries[0].0.mtime == 1234)
        let entry = entries[1].0
        #expect(entry.path == "pax/name with ünïcode")
        #expect(entry.uid == 3_000_000 && entry.gid == 4_000_000)
        #expect(entry.mtime == 1_700_000_000 && entry.mtimeNanoseconds == 123_456_789)
        #expect(entry.xattrs.map(\.name) == ["user.test", "security.capability"])
        #expect(entry.xattrs[0].value == Array("value\n=with equals".utf8))
        #expect(entry.xattrs[1].value == [1, 0, 0, 2, 0, 0x20, 0, 0])
        #expect(entries[1].1 == Array("sized".utf8))
    }

    @Test func paxSizeWins() throws {
        var tar = TarWriter()
        tar.entry("f", type: "0", content: Array("12345".utf8), pax: [("size", Array("5".utf8))], declaredSize: 0)
        tar.file("next")
        let entries = try TarReaderTests.readAll(tar.finish())
        #expect(entries.map(\.0.path) == ["f", "next"])
        #expect(entries[0].1 == Array("12345".utf8))
    }

    @Test func ustarPrefixIsJoined() throws {
        var tar = TarWriter()
        tar.file("name")
        var archive = tar.finish()
        for (i, c) in "some/prefix".utf8.enumerated() { archive[345 + i] = c }
        // Recompute the checksum of the edited header.
        for i in 148..<156 { archive[i] = 0x20 }
        let sum = archive[0..<512].reduce(0) { $0 + Int($1) }
        for (i, c) in (String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8)).utf8.enumerated() {
            archive[148 + i] = c
        }
        archive[154] = 0
        #expect(try TarReaderTests.readAll(archive).map(\.0.path) == ["some/prefix/name"])
    }

    @Test func corruptChecksumIsRefused() {
        var tar = TarWriter()
        tar.file("ok", "fine")
        tar.entry("bad", type: "0", content: Array("x".utf8), corruptChecksum: true)
        TarReaderTests.expectError(tar.finish()) { $0.hasPrefix("tar header at offset 1024 has a bad checksum (") }
    }

    @Test func truncatedArchivesAreRefused() {
        var tar = TarWriter()
        tar.file("first", String(repeating: "1", count: 600))
        tar.file("second", "2")
        let whole = tar.bytes  // no end-of-archive blocks yet
        // Inside the content of "first".
        TarReaderTests.expectError(Array(whole[..<700])) {
            $0 == "tar archive is truncated at offset 700 inside an entry's content"
        }
        // Inside the second header.
        TarReaderTests.expectError(Array(whole[..<(1536 + 100)])) {
            $0 == "tar archive is truncated at offset 1636 inside a header"
        }
        // At an entry boundary but without the end-of-archive block.
        TarReaderTests.expectError(whole) {
            $0 == "tar archive is truncated: it ends at offset 2560 without the end-of-archive block"
        }
        // An extended header with nothing after it.
        var pax = TarWriter(longNames: .gnu)
        pax.file(String(repeating: "n", count: 200))
        TarReaderTests.expectError(Array(pax.bytes[..<1024]) + [UInt8](repeating: 0, count: 1024)) {
            $0 == "tar archive ends at offset 1024 after an extended header without its entry"
        }
    }

    @Test func oneZeroBlockEndsTheArchive() throws {
        var tar = TarWriter()
        tar.file("only")
        #expect(try TarReaderTests.readAll(tar.bytes + [UInt8](repeating: 0, count: 512)).count == 1)
    }

    @Test func unsupportedTypesAreNamed() {
        var tar = TarWriter()
        tar.entry("sparse", type: "S")
        TarReaderTests.expectError(tar.finish()) {
            $0 == "tar entry \"sparse\" at offset 0 has the unsupported type 'S'"
        }
    }

    @Test func malformedPAXIsRefused() {
        var tar = TarWriter()
        tar.file("f", pax: [("uid", Array("12a".utf8))])
        TarReaderTests.expectError(tar.finish()) { $0 == "tar PAX record uid for the entry at offset 1024 is not a valid number" }
        var broken = TarWriter()
        broken.file("g")
        var archive = broken.finish()
        // A hand-made PAX header whose record length lies.
        var pax = TarWriter()
        pax.entry("PaxHeaders/g", type: "x", content: Array("99 path=g\n".utf8))
        archive = pax.bytes + archive
        TarReaderTests.expectError(archive) { $0 == "tar PAX header at offset 0 is malformed" }
    }

    @Test func base256NumbersAreRead() throws {
        var tar = TarWriter()
        tar.file("f", uid: 0)
        var archive = tar.finish()
        // uid 2^40 in GNU base-256 form.
        archive.replaceSubrange(108..<116, with: [0x80, 0, 1, 0, 0, 0, 0, 0])
        for i in 148..<156 { archive[i] = 0x20 }
        let sum = String(archive[0..<512].reduce(0) { $0 + Int($1) }, radix: 8)
        for (i, c) in (String(repeating: "0", count: 6 - sum.count) + sum).utf8.enumerated() { archive[148 + i] = c }
        archive[154] = 0
        #expect(try TarReaderTests.readAll(archive)[0].0.uid == 1 << 40)
    }
}
