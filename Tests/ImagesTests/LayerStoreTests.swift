import CZstd
import Glibc
import Platform
import Store
import Testing
@testable import Images

/// zstd-compresses `data` (one frame) for the tests.
func zstd(_ data: [UInt8], level: Int32 = 3) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: ZSTD_compressBound(data.count))
    let n = out.withUnsafeMutableBytes { o in
        data.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, o.count, i.baseAddress, i.count, level) }
    }
    precondition(ZSTD_isError(n) == 0)
    return Array(out[0..<n])
}

struct ZstdTests {
    @Test func framesDecompressAndConcatenate() throws {
        let a = Array("hello ".utf8), b = [UInt8](repeating: 0x61, count: 300_000)
        let source = try Zstd(source: BufferByteSource(zstd(a) + zstd(b)), limit: 1 << 20)
        #expect(try drain(source) == a + b)
    }

    @Test func theLimitStopsABomb() throws {
        let bomb = zstd([UInt8](repeating: 0, count: 8 << 20), level: 19)
        #expect(bomb.count < 4096)
        let source = try Zstd(source: BufferByteSource(bomb), limit: 1 << 20)
        #expect(throws: ImageError.self) { try drain(source) }
        #expect(source.totalOut <= (1 << 20) + 1)
    }

    @Test func truncationAndGarbageAreErrors() throws {
        let frame = zstd(Array(repeating: 7, count: 100_000))
        let truncated = try Zstd(source: BufferByteSource(Array(frame.dropLast(3))), limit: 1 << 20)
        #expect(throws: ImageError.self) { try drain(truncated) }
        let garbage = try Zstd(source: BufferByteSource([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5]), limit: 1 << 20)
        #expect(throws: ImageError.self) { try drain(garbage) }
    }

    @Test func sniffing() {
        #expect(LayerStream.sniff([0x1f, 0x8b, 8, 0]) == .gzip)
        #expect(LayerStream.sniff([0x28, 0xb5, 0x2f, 0xfd]) == .zstd)
        #expect(LayerStream.sniff(Array("bin/".utf8)) == .none)
        #expect(LayerStream.sniff([]) == .none)
    }
}

/// A store and a layer store in a temp dir.
final class LayerStoreFixture {
    let base = makeTemporaryDirectory("skiff-layerstore-test")
    let store: Store
    let layers: LayerStore

    init() throws {
        store = try Store(root: base)
        layers = LayerStore(root: base, options: LayerStore.options(rootless: getuid() != 0, tolerateEPERM: getuid() != 0))
    }

    deinit { FileSystem.removeTree(base) }

    func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

struct LayerStoreTests {
    func tar(_ build: (inout TarWriter) -> Void) -> [UInt8] {
        var writer = TarWriter()
        build(&writer)
        return writer.finish()
    }

    @Test func chainIDsFollowTheImageSpec() throws {
        let a = Digest.sha256(of: Array("a".utf8)), b = Digest.sha256(of: Array("b".utf8))
        let chain = LayerStore.chainIDs([a, b])
        #expect(chain[0] == a)
        #expect(chain[1] == Digest.sha256(of: Array("\(a) \(b)".utf8)))
    }

    @Test func aStackIsUnpackedOnceWithWhiteoutsKept() throws {
        let f = try LayerStoreFixture()
        let base = tar { $0.file("data/a", "A"); $0.file("data/b", "B"); $0.directory("opq"); $0.file("opq/x", "X") }
        let top = tar { $0.file("data/.wh.a"); $0.file("opq/.wh..wh..opq"); $0.file("opq/z", "Z") }
        let diffIDs = [Digest.sha256(of: base), Digest.sha256(of: top)]
        let chain = LayerStore.chainIDs(diffIDs)
        let first = try f.layers.ensure(chainID: chain[0], diffID: diffIDs[0], parent: nil, store: f.store) {
            BufferByteSource(base)
        }
        guard case .unpacked(let size, _) = first else { Issue.record("not unpacked"); return }
        #expect(size == 3)
        // gzip and zstd blobs give the same tar.
        let second = try f.layers.ensure(chainID: chain[1], diffID: diffIDs[1], parent: chain[0], store: f.store) {
            try LayerStream.decompressed(BufferByteSource(zstd(top)), .zstd)
        }
        #expect(second != LayerStore.Outcome.existed)
        let again = try f.layers.ensure(chainID: chain[0], diffID: diffIDs[0], parent: nil, store: f.store) {
            Issue.record("opened a layer that exists")
            return BufferByteSource(base)
        }
        #expect(again == LayerStore.Outcome.existed)
        let diff = f.layers.diffPath(of: chain[1])
        var info = stat()
        #expect(lstat(diff + "/data/a", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == 0)
        #expect(String(decoding: try FileSystem.readFile(diff + "/opq/z"), as: UTF8.self) == "Z")
        #expect(try f.store.layer(chainID: chain[1].description)?.state == .ready)
    }

    @Test func aLayerThatIsNotItsDiffIDLeavesNothing() throws {
        let f = try LayerStoreFixture()
        let layer = tar { $0.file("x", "1") }
        let wrong = Digest.sha256(of: Array("something else".utf8))
        #expect(throws: ImageError.self) {
            try f.layers.ensure(chainID: wrong, diffID: wrong, parent: nil, store: f.store) { BufferByteSource(layer) }
        }
        #expect(try f.store.layer(chainID: wrong.description) == nil)
        #expect(!f.exists(f.layers.path(of: wrong)))
    }

    @Test func aHostileLayerLeavesNothing() throws {
        let f = try LayerStoreFixture()
        let layer = tar { $0.file("ok", "1"); $0.file("../escape", "x") }
        let id = Digest.sha256(of: layer)
        #expect(throws: ImageError.self) {
            try f.layers.ensure(chainID: id, diffID: id, parent: nil, store: f.store) { BufferByteSource(layer) }
        }
        #expect(try f.store.layer(chainID: id.description) == nil)
        #expect(!f.exists(f.layers.path(of: id)))
        #expect(!f.exists(f.base + "/layers/escape"))
    }

    @Test func aDeadWorkersLayerIsRedoneAndSweepRemovesOrphans() throws {
        let f = try LayerStoreFixture()
        let layer = tar { $0.file("x", "1") }
        let id = Digest.sha256(of: layer)
        // A worker that died half-way: a row `unpacking`, a partial directory.
        try f.store.beginLayer(chainID: id.description, diffID: id.description, parent: nil)
        try FileSystem.makeDirectories(f.layers.diffPath(of: id) + "/partial", mode: 0o755)
        let outcome = try f.layers.ensure(chainID: id, diffID: id, parent: nil, store: f.store) { BufferByteSource(layer) }
        #expect(outcome != LayerStore.Outcome.existed)
        #expect(!f.exists(f.layers.diffPath(of: id) + "/partial"))
        // A directory without a row, and a row released by an image delete.
        let orphan = Digest.sha256(of: Array("orphan".utf8))
        try FileSystem.makeDirectories(f.layers.diffPath(of: orphan), mode: 0o755)
        try f.store.removeLayer(chainID: id.description)
        #expect(try f.layers.sweep(store: f.store) == 2)
        #expect(!f.exists(f.layers.path(of: orphan)))
        #expect(!f.exists(f.layers.path(of: id)))
    }
}

struct ImageChangesTests {
    @Test func dockerfileInstructions() throws {
        var c = ImageConfig.Container(env: ["PATH=/bin", "A=old"])
        try ImageChanges.apply([
            "CMD [\"sh\", \"-c\", \"echo hi\"]", "ENTRYPOINT /init --flag", "ENV A=1 B=\"two words\"",
            "ENV LEGACY value with spaces", "LABEL version=1.0 \"quoted key\"=x", "EXPOSE 80 53/UDP",
            "USER app", "WORKDIR /srv", "WORKDIR sub", "VOLUME [\"/data\"]", "VOLUME /logs", "STOPSIGNAL SIGINT",
        ], to: &c)
        #expect(c.cmd == ["sh", "-c", "echo hi"])
        #expect(c.entrypoint == ["/bin/sh", "-c", "/init --flag"])
        #expect(c.env == ["PATH=/bin", "A=1", "B=two words", "LEGACY=value with spaces"])
        #expect(c.labels == ["version": "1.0", "quoted key": "x"])
        #expect(c.exposedPorts == ["53/udp", "80/tcp"])
        #expect(c.user == "app")
        #expect(c.workingDir == "/srv/sub")
        #expect(c.volumes == ["/data", "/logs"])
        #expect(c.stopSignal == "SIGINT")
    }

    @Test func healthcheckAndOnbuild() throws {
        var c = ImageConfig.Container()
        try ImageChanges.apply(["HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1.5s --retries=3 CMD wget -q localhost || exit 1",
                                "ONBUILD RUN make", "onbuild COPY . /src"], to: &c)
        #expect(c.healthcheck == ImageConfig.Healthcheck(test: ["CMD-SHELL", "wget -q localhost || exit 1"],
                                                         interval: 90_000_000_000, timeout: 500_000_000,
                                                         startPeriod: 2_000_000_000, startInterval: 1_500_000_000,
                                                         retries: 3))
        #expect(c.onBuild == ["RUN make", "COPY . /src"])
        try ImageChanges.apply(["HEALTHCHECK CMD [\"/bin/check\", \"-v\"]"], to: &c)
        #expect(c.healthcheck == ImageConfig.Healthcheck(test: ["CMD", "/bin/check", "-v"]))
        try ImageChanges.apply(["HEALTHCHECK NONE"], to: &c)
        #expect(c.healthcheck == ImageConfig.Healthcheck(test: ["NONE"]))
        // Written and read back as the image config's OnBuild.
        let json = c.json
        #expect(json["OnBuild"] == .array([.string("RUN make"), .string("COPY . /src")]))
    }

    @Test(arguments: [("HEALTHCHECK NONE --x", "HEALTHCHECK NONE takes no arguments"),
                      ("HEALTHCHECK --retries=1 NONE", "HEALTHCHECK NONE takes no arguments"),
                      ("HEALTHCHECK TEST x", "Unknown type \"TEST\" in HEALTHCHECK (try CMD)"),
                      ("HEALTHCHECK --interval=10us CMD x", "Interval \"interval\" cannot be less than 1ms"),
                      ("HEALTHCHECK --timeout=-1s CMD x", "Interval \"timeout\" cannot be negative"),
                      ("HEALTHCHECK --interval=soon CMD x", "time: invalid duration \"soon\""),
                      ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
                      ("HEALTHCHECK --every=1s CMD x", "Unknown flag: every"),
                      ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
                      ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
                      ("ONBUILD from busybox", "FROM isn't allowed as an ONBUILD trigger"),
                      ("ONBUILD", "ONBUILD requires at least one argument")])
    func badHealthchecksAndTriggersAreRefused(_ change: String, _ message: String) {
        var c = ImageConfig.Container()
        do {
            try ImageChanges.apply([change], to: &c)
            Issue.record("\(change) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == message)
        }
    }

    @Test(arguments: [("RUN echo", "RUN is not a valid change command"),
                      ("EXPOSE 99999", "invalid containerPort: 99999"),
                      ("CMD [\"sh\", 1]", "CMD: not a JSON array of strings: [\"sh\", 1]"),
                      ("ENV =x", "ENV names can not be blank"),
                      ("USER", "USER requires exactly one argument")])
    func badChangesAreRefused(_ change: String, _ message: String) {
        var c = ImageConfig.Container()
        do {
            try ImageChanges.apply([change], to: &c)
            Issue.record("\(change) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == message)
        }
    }
}
