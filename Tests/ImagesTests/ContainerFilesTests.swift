import CLinux
import Glibc
import Platform
import Testing
@testable import Images

/// `ScopedRoot` (paths resolved inside a root by descriptors), `ContainerPathStat` (moby's
/// stat header), `TreeArchiver` and `LayerApplier`'s copy mode (`docker cp`).
struct ContainerFilesTests {
    /// A root with `/d/f`, `/link -> /d`, `/esc -> /..//../..`, `/abs -> /etc` (the root's own
    /// etc), `/loop -> loop`; and an `outside/` beside it that nothing may reach.
    final class Scratch {
        let scratch = LayerScratch()
        let root: ScopedRoot

        init() {
            let base = scratch.root
            mkdir(base + "/d", 0o755)
            mkdir(base + "/etc", 0o755)
            _ = try? FileSystem.writeAtomically(base + "/d/f", Array("hi\n".utf8), mode: 0o644)
            _ = try? FileSystem.writeAtomically(base + "/etc/passwd", Array("root:x:0:0::/:/bin/sh\n".utf8), mode: 0o644)
            _ = try? FileSystem.writeAtomically(scratch.outside + "/secret", Array("HOST\n".utf8), mode: 0o644)
            symlink("/d", base + "/link")
            symlink("../../../..", base + "/esc")
            symlink(scratch.outside, base + "/host")
            symlink("loop", base + "/loop")
            root = ScopedRoot(fd: open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
        }
    }

    @Test(arguments: [
        ("/d/f", "/d/f"), ("/link/f", "/d/f"), ("/esc/d/f", "/d/f"), ("/esc/../../d/./f", "/d/f"),
        ("d/../d/f", "/d/f"), ("/esc/etc/passwd", "/etc/passwd"),
    ])
    func resolvesInsideTheRoot(_ path: String, _ expected: String) throws {
        let s = Scratch()
        #expect(try s.root.resolve(path, followLast: true).path == expected)
    }

    @Test func aSymlinkToTheHostLeadsToTheRootsOwnPath() throws {
        let s = Scratch()
        // `host` points at the scratch's outside/ by its absolute host path: inside the root that
        // path does not exist.
        #expect(throws: ImageError.self) { try s.root.resolve("/host/secret", followLast: true) }
        do {
            _ = try s.root.resolve("/host/secret", followLast: true)
        } catch {
            #expect(error.code == .notFound)
        }
        do {
            _ = try s.root.resolve("/loop", followLast: true)
            Issue.record("a symlink loop resolved")
        } catch {
            #expect(error.message.contains("Too many levels of symbolic links"))
        }
    }

    @Test func pathStatAsMoby() throws {
        let s = Scratch()
        let (_, link) = try ContainerPathStat.resolve("/link", in: s.root)
        #expect(link.name == "link" && link.linkTarget == "/d" && link.mode == (1 << 27 | 0o777))
        let (_, followed) = try ContainerPathStat.resolve("/link/", in: s.root)
        #expect(followed.name == "link" && followed.isDirectory && followed.linkTarget == "")
        let (_, dot) = try ContainerPathStat.resolve("/d/.", in: s.root)
        #expect(dot.name == ".")
        let (_, root) = try ContainerPathStat.resolve("/", in: s.root)
        #expect(root.name == "/" && root.isDirectory)
        let (_, escape) = try ContainerPathStat.resolve("/esc", in: s.root)
        #expect(escape.linkTarget == "/")
        #expect(ContainerPathStat.goMode(S_IFCHR | 0o620) == (1 << 26 | 1 << 21 | 0o620))
        #expect(ContainerPathStat.goMode(S_IFDIR | S_ISVTX | 0o777) == (1 << 31 | 1 << 20 | 0o777))
        #expect(ContainerPathStat.goMode(S_IFREG | S_ISUID | 0o755) == (1 << 23 | 0o755))
    }

    @Test func treeArchiverNeverFollowsSymlinks() throws {
        let s = Scratch()
        let sink = BufferByteSink()
        let location = try s.root.resolve("/", followLast: true)
        try TreeArchiver(sink: sink).archive(location, as: "/")
        let reader = TarReader(source: BufferByteSource(sink.bytes))
        var entries: [String: TarEntry] = [:]
        while let entry = try reader.next() { entries[entry.path] = entry }
        #expect(entries["/d/f"]?.size == 3)
        #expect(entries["/host"]?.kind == .symlink && entries["/host"]?.linkTarget == s.scratch.outside)
        #expect(!entries.keys.contains { $0.contains("secret") })
    }

    @Test func copyModeKeepsEntriesInsideTheDirectory() throws {
        let s = Scratch()
        let directory = open(s.scratch.root + "/d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(directory) }
        func apply(_ archive: [UInt8], noOverwrite: Bool = false) throws {
            let options = LayerApplier.Options(mode: .copy(noOverwriteDirNonDir: noOverwrite, destination: "/d"), tolerateEPERM: true)
            try LayerApplier(directory: directory, name: "/d", options: options).apply(TarReader(source: BufferByteSource(archive)))
        }
        var tar = TarWriter()
        tar.file("/abs", "a")
        tar.file("x/../.wh.kept", "w")
        try apply(tar.finish())
        #expect(s.scratch.contents("d/abs") == "a")
        #expect(s.scratch.contents("d/.wh.kept") == "w", "whiteout names are ordinary names in a copy")
        var escape = TarWriter()
        escape.file("../../outside/pwned", "x")
        #expect(throws: ImageError.self) { try apply(escape.finish()) }
        var through = TarWriter()
        through.symlink("out", to: s.scratch.outside)
        through.file("out/pwned", "x")
        #expect(throws: ImageError.self) { try apply(through.finish()) }
        var conflict = TarWriter()
        conflict.directory("f")
        do {
            try apply(conflict.finish(), noOverwrite: true)
            Issue.record("a directory replaced a file")
        } catch {
            #expect((error as? ImageError)?.message == "cannot overwrite non-directory \"/d/f\" with directory \"/d\"")
        }
        #expect(FileSystem.directoryEntries(s.scratch.outside) == ["secret"])
    }
}
