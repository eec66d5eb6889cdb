import CLinux
import CZlib
import Glibc
import Platform
import Store
import Testing
@testable import Images

/// A scratch tree: `root/` (where layers go) and `outside/` (which must never change).
final class LayerScratch {
    let base = makeTemporaryDirectory("skiff-layer-test")
    var root: String { base + "/root" }
    var outside: String { base + "/outside" }

    init() {
        mkdir(base + "/root", 0o755)
        mkdir(base + "/outside", 0o755)
    }

    deinit { FileSystem.removeTree(base) }

    @discardableResult
    func apply(_ archive: [UInt8], _ options: LayerApplier.Options = .init(), gzipped: Bool = false) throws -> LayerApplier.Summary {
        let source: any ByteSource = gzipped
            ? try Gunzip(source: BufferByteSource(gzip(archive)), limit: 1 << 30) : BufferByteSource(archive)
        return try LayerApplier(root: root, options: options).apply(TarReader(source: source))
    }

    func info(_ path: String) -> stat? {
        var s = stat()
        return lstat(root + "/" + path, &s) == 0 ? s : nil
    }

    func contents(_ path: String) -> String? {
        (try? FileSystem.readFile(root + "/" + path)).map { String(decoding: $0, as: UTF8.self) }
    }

    func names(_ path: String = "") -> [String] {
        (FileSystem.directoryEntries(root + "/" + path) ?? []).sorted()
    }

    /// Applies and expects a ImageError with exactly this message; `outside/` must stay empty.
    func expectRefused(_ archive: [UInt8], _ message: String, _ options: LayerApplier.Options = .init()) {
        do {
            try apply(archive, options)
            Issue.record("expected \(message)")
        } catch {
            #expect((error as? ImageError)?.message == message)
        }
        #expect(FileSystem.directoryEntries(outside) == [])
    }
}

struct LayerApplierTests {
    static let isRoot = geteuid() == 0

    @Test func everyEntryType() throws {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.directory("./")
        tar.directory("etc/", mode: 0o750)
        tar.file("etc/hosts", "127.0.0.1 localhost\n", mode: 0o640)
        tar.symlink("etc/link", to: "hosts")
        tar.symlink("etc/dangling", to: "/nowhere/at/all")
        tar.hardlink("etc/hard", to: "etc/hosts")
        tar.fifo("run/pipe")
        tar.file("deep/ly/nested/file", "implicit parents")
        tar.file(String(repeating: "long/", count: 40) + "name", "long")
        if LayerApplierTests.isRoot {
            tar.characterDevice("dev/null", major: 1, minor: 3)
            tar.blockDevice("dev/loop9", major: 7, minor: 9)
        }
        let summary = try scratch.apply(tar.finish(), gzipped: true)
        #expect(scratch.contents("etc/hosts") == "127.0.0.1 localhost\n")
        #expect(scratch.info("etc")!.st_mode & 0o7777 == 0o750)
        #expect(scratch.info("etc/hosts")!.st_mode & 0o7777 == 0o640)
        #expect(scratch.info("etc/hosts")!.st_mtim.tv_sec == 1_700_000_000)
        #expect(scratch.info("etc")!.st_mtim.tv_sec == 1_700_000_000)
        #expect(scratch.info("etc/link")!.st_mode & S_IFMT == S_IFLNK)
        #expect(scratch.info("etc/dangling")!.st_mode & S_IFMT == S_IFLNK)
        #expect(scratch.info("etc/hard")!.st_ino == scratch.info("etc/hosts")!.st_ino)
        #expect(scratch.info("run/pipe")!.st_mode & S_IFMT == S_IFIFO)
        #expect(scratch.contents("deep/ly/nested/file") == "implicit parents")
        #expect(scratch.contents(String(repeating: "long/", count: 40) + "name") == "long")
        if LayerApplierTests.isRoot {
            let null = scratch.info("dev/null")!
            #expect(null.st_mode & S_IFMT == S_IFCHR && null.st_rdev == skiff_makedevForTests(1, 3))
            #expect(scratch.info("dev/loop9")!.st_mode & S_IFMT == S_IFBLK)
        }
        // Contents, plus the symlinks' target lengths ("hosts", "/nowhere/at/all"); the hard link adds nothing.
        #expect(summary.bytes == 20 + 16 + 4 + 5 + 15)
    }

    /// Needs root (CI runs as root): setting another owner needs CAP_CHOWN. Checks that the
    /// owner is set before the mode, so a setuid bit survives, and that uid 1000 is kept.
    @Test(.enabled(if: LayerApplierTests.isRoot, "needs root to chown to other users (CI runs as root)"))
    func ownersAndSetuidAsRoot() throws {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.file("home/user/notes", "mine", mode: 0o600, uid: 1000, gid: 1000)
        tar.file("usr/bin/su", "#!", mode: 0o4755, uid: 0, gid: 0)
        tar.file("usr/bin/helper", "#!", mode: 0o6750, uid: 1000, gid: 42)
        tar.directory("tmp", mode: 0o1777)
        tar.symlink("home/user/link", to: "notes")
        try scratch.apply(tar.finish())
        let notes = scratch.info("home/user/notes")!
        #expect(notes.st_uid == 1000 && notes.st_gid == 1000 && notes.st_mode & 0o7777 == 0o600)
        #expect(scratch.info("usr/bin/su")!.st_mode & 0o7777 == 0o4755)
        let helper = scratch.info("usr/bin/helper")!
        #expect(helper.st_mode & 0o7777 == 0o6750 && helper.st_uid == 1000 && helper.st_gid == 42)
        #expect(scratch.info("tmp")!.st_mode & 0o7777 == 0o1777)
    }

    @Test func ownershipFailuresAreErrorsUnlessTolerated() throws {
        // Only meaningful unprivileged: there, chown to uid 1000 fails with EPERM.
        guard !LayerApplierTests.isRoot else { return }
        var tar = TarWriter()
        tar.file("f", "x", uid: 1000, gid: 1000)
        let archive = tar.finish()
        LayerScratch().expectRefused(archive, "layer entry \"f\": lchown: Operation not permitted")
        let summary = try LayerScratch().apply(archive, .init(tolerateEPERM: true))
        #expect(summary.skippedOwnership == 1)
    }

    @Test func whiteoutsAndOpaqueDirectoriesOverALowerLayer() throws {
        let scratch = LayerScratch()
        var lower = TarWriter()
        lower.file("a/one", "1")
        lower.file("a/two", "2")
        lower.file("b", "b")
        lower.file("c/old", "old")
        lower.directory("c/olddir")
        lower.file("c/olddir/x", "x")
        lower.file("d/keep", "k")
        try scratch.apply(lower.finish())

        var upper = TarWriter()
        upper.file("a/.wh.one")
        upper.file(".wh.b")
        upper.file("c/mine-before", "this layer's, written before the marker")
        upper.file("c/.wh..wh..opq")
        upper.file("c/new", "new")
        upper.file("d/.wh.missing")  // whiting out what is not there is fine
        upper.file("a/three", "3")
        try scratch.apply(upper.finish())

        #expect(scratch.names("a") == ["three", "two"])
        #expect(scratch.info("b") == nil)
        #expect(scratch.names("c") == ["mine-before", "new"])
        #expect(scratch.names("d") == ["keep"])
        #expect(scratch.names() == ["a", "c", "d"])
    }

    /// Needs root (CI runs as root): a 0/0 character device and a trusted.* xattr.
    @Test(.enabled(if: LayerApplierTests.isRoot, "needs root for mknod and trusted.* xattrs (CI runs as root)"))
    func overlayDiffKeepsWhiteouts() throws {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.file("etc/.wh.passwd")
        tar.file("var/.wh..wh..opq")
        tar.file("var/kept", "k")
        try scratch.apply(tar.finish(), .init(mode: .overlayDiff(opaqueXattr: "trusted.overlay.opaque")))
        let whiteout = scratch.info("etc/passwd")!
        #expect(whiteout.st_mode & S_IFMT == S_IFCHR && whiteout.st_rdev == 0)
        var value = [UInt8](repeating: 0, count: 8)
        let n = getxattr(scratch.root + "/var", "trusted.overlay.opaque", &value, value.count)
        #expect(n == 1 && value[0] == UInt8(ascii: "y"))
        #expect(scratch.contents("var/kept") == "k")
    }

    @Test func xattrsAreSetBestEffort() throws {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.file("f", "x", pax: [("SCHILY.xattr.user.skiff", Array("value".utf8)),
                                 ("SCHILY.xattr.bogus.namespace", Array("v".utf8))])
        let summary = try scratch.apply(tar.finish())
        var value = [UInt8](repeating: 0, count: 16)
        let n = getxattr(scratch.root + "/f", "user.skiff", &value, value.count)
        // user.* works on ext4, xfs, btrfs and tmpfs >= 6.6; the bogus namespace never does.
        #expect(summary.failedXattrs == (n == 5 ? 1 : 2))
        let strict = LayerScratch()
        var bogus = TarWriter()
        bogus.file("g", "x", pax: [("SCHILY.xattr.bogus.namespace", Array("v".utf8))])
        strict.expectRefused(bogus.finish(), "layer entry \"g\": setxattr bogus.namespace: Operation not supported",
                             .init(requireXattrs: true))
    }

    // MARK: - Escapes

    @Test(arguments: [
        ("../x", "layer entry \"../x\" has a path \"../x\" that leaves the root"),
        ("a/../../x", "layer entry \"a/../../x\" has a path \"a/../../x\" that leaves the root"),
        ("/abs", "layer entry \"/abs\" has an absolute path \"/abs\""),
        ("a/.wh..wh..plnk", "layer entry \"a/.wh..wh..plnk\" is a reserved whiteout name"),
        (".wh..opq", "layer entry \".wh..opq\" is a reserved whiteout name"),
        ("x/.wh.", "layer entry \"x/.wh.\" is a whiteout without a name"),
    ])
    func badNamesAreRefused(_ name: String, _ message: String) {
        var tar = TarWriter()
        tar.file(name, "escape")
        LayerScratch().expectRefused(tar.finish(), message)
    }

    @Test func symlinkToRootCannotRedirectAFile() {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.symlink("evil", to: "/")
        tar.file("evil" + scratch.outside + "/pwned", "escape")
        scratch.expectRefused(tar.finish(), "layer entry \"evil\(scratch.outside)/pwned\" goes through \"evil\", which is a symlink or not a directory")
    }

    @Test func symlinkOutsideCannotRedirectADirectoryOrLink() {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.symlink("out", to: "../outside")
        tar.directory("out/dir")
        scratch.expectRefused(tar.finish(), "layer entry \"out/dir\" goes through \"out\", which is a symlink or not a directory")
        var replace = TarWriter()
        replace.symlink("out2", to: scratch.outside)
        replace.symlink("out2/link", to: "/etc")
        scratch.expectRefused(replace.finish(), "layer entry \"out2/link\" goes through \"out2\", which is a symlink or not a directory")
    }

    @Test func twoHopSymlinkEscapeIsRefused() {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.directory("x")
        tar.symlink("x/a", to: "b")
        tar.symlink("x/b", to: "../..")
        tar.file("x/a/outside/pwned", "escape")
        scratch.expectRefused(tar.finish(), "layer entry \"x/a/outside/pwned\" goes through \"x/a\", which is a symlink or not a directory")
    }

    @Test func hardlinksOutsideTheRootAreRefused() {
        let scratch = LayerScratch()
        var absolute = TarWriter()
        absolute.hardlink("passwd", to: "/etc/passwd")
        scratch.expectRefused(absolute.finish(), "layer entry \"passwd\" has an absolute hardlink target \"/etc/passwd\"")
        var relative = TarWriter()
        relative.hardlink("passwd", to: "../../../../etc/passwd")
        scratch.expectRefused(relative.finish(), "layer entry \"passwd\" has a hardlink target \"../../../../etc/passwd\" that leaves the root")
    }

    @Test func hardlinkThroughASymlinkIsRefused() {
        let scratch = LayerScratch()
        var tar = TarWriter()
        tar.symlink("etc", to: "/etc")
        tar.hardlink("passwd", to: "etc/passwd")
        scratch.expectRefused(tar.finish(), "layer entry \"passwd\" goes through \"etc\", which is a symlink or not a directory")
        // A hardlink to the symlink itself links the symlink, never what it points to.
        var own = TarWriter()
        own.symlink("s", to: "/etc/passwd")
        own.hardlink("t", to: "s")
        #expect(throws: Never.self) { try scratch.apply(own.finish()) }
        #expect(scratch.info("t")!.st_mode & S_IFMT == S_IFLNK)
    }

    @Test func aFileReplacesASymlinkInsteadOfWritingThroughIt() throws {
        let scratch = LayerScratch()
        var lower = TarWriter()
        lower.symlink("target", to: scratch.outside + "/victim")
        try scratch.apply(lower.finish())
        var upper = TarWriter()
        upper.file("target", "replaced")
        try scratch.apply(upper.finish())
        #expect(scratch.info("target")!.st_mode & S_IFMT == S_IFREG)
        #expect(FileSystem.directoryEntries(scratch.outside) == [])
    }

    @Test func brokenArchivesStopTheApplier() {
        var tar = TarWriter()
        tar.file("first", String(repeating: "1", count: 600))
        LayerScratch().expectRefused(Array(tar.bytes[..<700]), "tar archive is truncated at offset 700 inside an entry's content")
        var corrupt = TarWriter()
        corrupt.file("ok")
        corrupt.entry("bad", type: "0", corruptChecksum: true)
        let scratch = LayerScratch()
        do {
            try scratch.apply(corrupt.finish())
            Issue.record("expected a checksum error")
        } catch {
            #expect((error as? ImageError)?.message.hasPrefix("tar header at offset 512 has a bad checksum") == true)
        }
        // Entries before the failure were applied: the caller deletes the partial directory.
        #expect(scratch.names() == ["ok"])
    }
}

/// glibc's makedev, for comparing st_rdev.
func skiff_makedevForTests(_ major: UInt32, _ minor: UInt32) -> UInt {
    let major = UInt(major), minor = UInt(minor)
    return (major & 0xfff) << 8 | (major & ~0xfff) << 32 | (minor & 0xff) | (minor & ~0xff) << 12
}
