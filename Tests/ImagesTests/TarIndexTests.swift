import CLinux
import Glibc
import Platform
import Testing
@testable import Images

/// `TarIndex` answers what `LayerApplier`'s copy mode would have put on disk: the same tree,
/// the same refusals, the same resolution as `ScopedRoot`.
struct TarIndexTests {
    /// The archive in an unnamed file (the spooled body), indexed in place or, `compressed`, with
    /// its content copied to a second file.
    final class Indexed {
        let archive: Int32
        let copy: Int32
        let index: TarIndex

        init(_ bytes: [UInt8], compressed: Bool = false) throws {
            let directory = makeTemporaryDirectory("skiff-tarindex-test")
            defer { FileSystem.removeTree(directory) }
            let file = skiff_open_tmpfile(directory)
            let second = compressed ? skiff_open_tmpfile(directory) : -1
            archive = file
            copy = second
            let data = compressed ? gzip(bytes) : bytes
            _ = data.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
            lseek(file, 0, SEEK_SET)
            let source: any ByteSource = compressed
                ? try Gunzip(source: FileByteSource(fd: file, name: "t"), limit: 1 << 30)
                : FileByteSource(fd: file, name: "t")
            index = try TarIndex(TarReader(source: source), archiveFD: file, copyTo: compressed ? second : nil)
        }

        deinit {
            close(archive)
            if copy >= 0 { close(copy) }
        }

        func content(_ path: String) throws -> String? {
            guard let node = index.node(path), node.kind == .regular else { return nil }
            var bytes: [UInt8] = []
            try index.withContent(node, name: path) { bytes += $0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Every path of the unpacked directory, as the index should list it:
    /// "kind mode size content-or-target".
    static func describe(_ scratch: LayerScratch, _ prefix: String = "") -> [String] {
        var lines: [String] = []
        for name in scratch.names(prefix) {
            let path = prefix.isEmpty ? name : prefix + "/" + name
            guard let info = scratch.info(path) else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                lines.append("\(path) d \(String(info.st_mode & 0o7777, radix: 8))")
                lines += describe(scratch, path)
            case S_IFLNK:
                lines.append("\(path) l \(ScopedRoot.readLink(AT_FDCWD, scratch.root + "/" + path) ?? "?")")
            case S_IFREG:
                lines.append("\(path) f \(String(info.st_mode & 0o7777, radix: 8)) \(scratch.contents(path) ?? "?")")
            default:
                lines.append("\(path) o")
            }
        }
        return lines
    }

    static func describe(_ indexed: Indexed, _ prefix: String = "") throws -> [String] {
        var lines: [String] = []
        for name in indexed.index.names(prefix) {
            let path = prefix.isEmpty ? name : prefix + "/" + name
            guard let node = indexed.index.node(path) else { continue }
            switch node.kind {
            case .directory:
                lines.append("\(path) d \(String(node.mode, radix: 8))")
                lines += try describe(indexed, path)
            case .symlink:
                lines.append("\(path) l \(node.linkTarget)")
            case .regular:
                lines.append("\(path) f \(String(node.mode, radix: 8)) \(try indexed.content(path) ?? "?")")
            case .other:
                lines.append("\(path) o")
            }
        }
        return lines
    }

    static let copyMode = LayerApplier.Options(mode: .copy(noOverwriteDirNonDir: false, destination: "/"), tolerateEPERM: true)

    static func archives() -> [[UInt8]] {
        var plain = TarWriter()
        plain.directory("./")
        plain.directory("files/", mode: 0o750)
        for i in 0..<20 { plain.file("files/f\(i)", "file \(i)\n", mode: i == 3 ? 0o4755 : 0o644) }
        plain.file("Dockerfile", "FROM busybox\n")
        plain.symlink("link", to: "/etc")
        plain.file("etc/hostname", "from the context")
        plain.hardlink("hard", to: "files/f1")
        plain.fifo("pipe")
        var replacing = TarWriter()
        replacing.file("a/b/c", "implicit parents")
        replacing.file("a/b/c", "replaced")
        replacing.directory("a/", mode: 0o700)
        replacing.file("x/y", "under x")
        replacing.file("x", "a file over a directory")
        replacing.file("/abs/../top", "cleaned")
        replacing.file("./dot/./name", "dots")
        replacing.directory("d/")
        replacing.symlink("d", to: "a")
        return [plain.finish(), replacing.finish()]
    }

    @Test(arguments: 0..<2, [false, true])
    func indexesTheTreeTheApplierUnpacks(which: Int, compressed: Bool) throws {
        let archive = TarIndexTests.archives()[which]
        let scratch = LayerScratch()
        try scratch.apply(archive, TarIndexTests.copyMode)
        let indexed = try Indexed(archive, compressed: compressed)
        #expect(try TarIndexTests.describe(indexed) == TarIndexTests.describe(scratch))
    }

    @Test func resolvesAsScopedRootDoes() throws {
        var tar = TarWriter()
        tar.symlink("link", to: "/etc")
        tar.symlink("up", to: "../../..")
        tar.symlink("loop", to: "loop")
        tar.symlink("rel", to: "etc/hostname")
        tar.file("etc/hostname", "inside")
        tar.file("plain", "p")
        let indexed = try Indexed(tar.finish())
        let index = indexed.index
        #expect(try index.resolve("/link/hostname", followLast: true) == "etc/hostname")
        #expect(try index.resolve("link", followLast: false) == "link")
        #expect(try index.resolve("/up/etc/hostname", followLast: true) == "etc/hostname")
        #expect(try index.resolve("rel", followLast: true) == "etc/hostname")
        #expect(try index.resolve("/", followLast: true) == "")
        #expect(throws: ImageError.self) { try index.resolve("missing", followLast: true) }
        do {
            _ = try index.resolve("/link/passwd", followLast: true)
            Issue.record("a missing file resolved")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == "open /etc/passwd: No such file or directory")
        }
        do {
            _ = try index.resolve("/plain/x", followLast: true)
            Issue.record("a path through a file resolved")
        } catch {
            #expect(error.code == .notFound)
        }
        do {
            _ = try index.resolve("loop", followLast: true)
            Issue.record("a symlink loop resolved")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "resolve loop: Too many levels of symbolic links")
        }
    }

    /// Hostile entries: refused with the applier's own messages.
    @Test(arguments: [
        ("../outside", nil as String?, "\"../outside\" is outside of \"/\""),
        ("link/escape", "/tmp", "tar entry \"link/escape\" goes through \"link\", which is a symlink or not a directory"),
        ("dir/escape", "..", "tar entry \"dir/escape\" goes through \"dir\", which is a symlink or not a directory"),
    ])
    func refusesWhatTheApplierRefuses(entry: String, symlinkTarget: String?, message: String) throws {
        var tar = TarWriter()
        if let symlinkTarget { tar.symlink(String(entry.split(separator: "/")[0]), to: symlinkTarget) }
        tar.file(entry, "x")
        let archive = tar.finish()
        let scratch = LayerScratch()
        scratch.expectRefused(archive, message, TarIndexTests.copyMode)
        do {
            _ = try Indexed(archive)
            Issue.record("expected \(message)")
        } catch {
            #expect((error as? ImageError)?.message == message)
        }
    }

    @Test func refusesBadHardlinks() throws {
        var toDirectory = TarWriter()
        toDirectory.directory("d/")
        toDirectory.hardlink("h", to: "d")
        var toNothing = TarWriter()
        toNothing.hardlink("h", to: "nothing")
        for (tar, message) in [(toDirectory, "tar entry \"h\" is a hardlink to a directory"),
                               (toNothing, "tar entry \"h\": hardlink target \"nothing\" does not exist")] {
            var tar = tar
            do {
                _ = try Indexed(tar.finish())
                Issue.record("expected \(message)")
            } catch {
                #expect((error as? ImageError)?.message == message)
            }
        }
    }
}
