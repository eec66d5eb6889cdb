import Glibc
import Platform
import Store
import Testing
@testable import Images

/// docker-archive and OCI-layout tarballs built here, loaded into a temporary BlobStore.
@Suite struct ImageArchiveTests {
    // MARK: Fixtures

    /// A small layer: a tar with one file.
    static func layerTar(_ content: String) -> [UInt8] {
        var tar = TarWriter()
        tar.file("etc/" + content, content)
        return tar.finish()
    }

    static func config(_ layers: [[UInt8]]) -> [UInt8] {
        let diffIDs = layers.map { JSON.string(Digest.sha256(of: $0).description) }
        return JSON.object([.init("architecture", "amd64"), .init("os", "linux"),
                            .init("rootfs", .object([.init("type", "layers"), .init("diff_ids", .array(diffIDs))]))]).bytes
    }

    static func json(_ value: JSON) -> String { value.text }

    static func blobPath(_ bytes: [UInt8]) -> String { "blobs/sha256/" + Digest.sha256(of: bytes).encoded }

    /// A fresh store; the closure runs, then the directory is removed.
    static func withStore(_ body: (BlobStore) throws -> Void) rethrows {
        let root = makeTemporaryDirectory("skiff-archive-test")
        defer { FileSystem.removeTree(root) }
        try body(BlobStore(root: root))
    }

    static func load(_ archive: [UInt8], into store: BlobStore) throws -> [ArchiveImage] {
        try ImageArchive.load(from: BufferByteSource(archive), into: store)
    }

    static func ingestLeftovers(_ store: BlobStore) -> [String] {
        FileSystem.directoryEntries(store.ingestDirectory) ?? []
    }

    static func manifestJSON(config: String, tags: [String]?, layers: [String]) -> String {
        json(.array([.object([.init("Config", .string(config)),
                              .init("RepoTags", tags.map { JSON($0) } ?? .null),
                              .init("Layers", JSON(layers))])]))
    }

    // MARK: Loading

    /// Docker before 25: `<id>/layer.tar`, `<id>/json`, `<id>/VERSION`, `<config hex>.json`,
    /// `repositories`, and a symlink for a layer repeated by a second image.
    @Test func loadsLegacyDockerArchive() throws {
        let layer1 = Self.layerTar("a")
        let layer2 = gzip(Self.layerTar("b"))
        let config1 = Self.config([layer1, layer2])
        let config2 = Self.config([layer1])
        let c1 = Digest.sha256(of: config1), c2 = Digest.sha256(of: config2)
        var tar = TarWriter()
        tar.directory("aaa/")
        tar.file("aaa/VERSION", "1.0")
        tar.file("aaa/json", "{}")
        tar.entry("aaa/layer.tar", type: "0", content: layer1)
        tar.directory("bbb/")
        tar.entry("./bbb/layer.tar", type: "0", content: layer2)
        tar.directory("ccc/")
        tar.symlink("ccc/layer.tar", to: "../aaa/layer.tar")
        tar.entry(c1.encoded + ".json", type: "0", content: config1)
        tar.entry(c2.encoded + ".json", type: "0", content: config2)
        tar.file("repositories", #"{"busybox":{"latest":"bbb"}}"#)
        tar.file("manifest.json", Self.json(.array([
            .object([.init("Config", .string(c1.encoded + ".json")), .init("RepoTags", JSON(["busybox:latest", "busybox:1"])),
                     .init("Layers", JSON(["aaa/layer.tar", "bbb/layer.tar"]))]),
            .object([.init("Config", .string(c2.encoded + ".json")), .init("RepoTags", .null),
                     .init("Layers", JSON(["ccc/layer.tar"]))]),
        ])))
        try Self.withStore { store in
            let images = try Self.load(tar.finish(), into: store)
            let l1 = Digest.sha256(of: layer1), l2 = Digest.sha256(of: layer2)
            #expect(images == [
                ArchiveImage(config: c1, layers: [.init(digest: l1, compression: .none), .init(digest: l2, compression: .gzip)],
                             repoTags: ["busybox:latest", "busybox:1"]),
                ArchiveImage(config: c2, layers: [.init(digest: l1, compression: .none)], repoTags: []),
            ])
            #expect(!images[0].layers[0].isCompressed && images[0].layers[1].isCompressed)
            #expect(store.list() == [c1, c2, l1, l2].sorted())
            #expect(try store.read(c1, limit: 1 << 20) == config1)
            #expect(Self.ingestLeftovers(store).isEmpty)
        }
    }

    /// An OCI layout as skopeo writes it; two descriptors of one manifest merge their names.
    @Test func loadsOCILayout() throws {
        let layer = gzip(Self.layerTar("a"))
        let config = Self.config([layer])
        let manifest = JSON.object([
            .init("schemaVersion", 2), .init("mediaType", .string(MediaType.ociManifest)),
            .init("config", .object([.init("mediaType", .string(MediaType.ociConfig)),
                                     .init("digest", .string(Digest.sha256(of: config).description)), .init("size", JSON(config.count))])),
            .init("layers", .array([.object([.init("mediaType", .string(MediaType.ociLayerGzip)),
                                             .init("digest", .string(Digest.sha256(of: layer).description)),
                                             .init("size", JSON(layer.count))])])),
        ]).bytes
        let m = Digest.sha256(of: manifest)
        func descriptor(_ annotations: [JSON.Member]) -> JSON {
            .object([.init("mediaType", .string(MediaType.ociManifest)), .init("digest", .string(m.description)),
                     .init("size", JSON(manifest.count)), .init("annotations", .object(annotations))])
        }
        var tar = TarWriter()
        tar.file("oci-layout", #"{"imageLayoutVersion": "1.0.0"}"#)
        tar.directory("blobs/")
        tar.directory("blobs/sha256/")
        tar.entry(Self.blobPath(layer), type: "0", content: layer)
        tar.entry(Self.blobPath(config), type: "0", content: config)
        tar.entry(Self.blobPath(manifest), type: "0", content: manifest)
        tar.file("index.json", Self.json(.object([.init("schemaVersion", 2), .init("manifests", .array([
            descriptor([.init(LayoutAnnotation.refName, "example.com/app:1")]),
            descriptor([.init(LayoutAnnotation.containerdName, "docker.io/library/app:2"), .init(LayoutAnnotation.refName, "2")]),
            descriptor([.init(LayoutAnnotation.refName, "bare-tag")]),
        ]))])))
        try Self.withStore { store in
            let images = try Self.load(tar.finish(), into: store)
            #expect(images == [ArchiveImage(config: Digest.sha256(of: config),
                                            layers: [.init(digest: Digest.sha256(of: layer), compression: .gzip)],
                                            repoTags: ["example.com/app:1", "docker.io/library/app:2"], manifest: m)])
            #expect(store.list().count == 3)
        }
    }

    /// A nested index keeps the host's platform; the other platform's blobs do not stay.
    @Test func nestedIndexKeepsHostPlatform() throws {
        func image(_ name: String) -> (layer: [UInt8], config: [UInt8], manifest: [UInt8]) {
            let layer = Self.layerTar(name)
            let config = Self.config([layer])
            let manifest = JSON.object([
                .init("schemaVersion", 2), .init("mediaType", .string(MediaType.dockerManifest)),
                .init("config", .object([.init("mediaType", .string(MediaType.dockerConfig)),
                                         .init("digest", .string(Digest.sha256(of: config).description)), .init("size", JSON(config.count))])),
                .init("layers", .array([.object([.init("mediaType", .string(MediaType.dockerLayerGzip)),
                                                 .init("digest", .string(Digest.sha256(of: layer).description)),
                                                 .init("size", JSON(layer.count))])])),
            ]).bytes
            return (layer, config, manifest)
        }
        let host = image("host"), other = image("other")
        func platform(_ arch: String, _ manifest: [UInt8]) -> JSON {
            .object([.init("mediaType", .string(MediaType.dockerManifest)),
                     .init("digest", .string(Digest.sha256(of: manifest).description)), .init("size", JSON(manifest.count)),
                     .init("platform", .object([.init("os", "linux"), .init("architecture", .string(arch))]))])
        }
        let inner = JSON.object([.init("schemaVersion", 2), .init("mediaType", .string(MediaType.dockerManifestList)), .init("manifests", .array([
            platform(Descriptor.Platform.hostArchitecture == "s390x" ? "ppc64le" : "s390x", other.manifest), platform(Descriptor.Platform.hostArchitecture, host.manifest),
        ]))]).bytes
        var tar = TarWriter()
        for blob in [host.layer, host.config, host.manifest, other.layer, other.config, other.manifest, inner] {
            tar.entry(Self.blobPath(blob), type: "0", content: blob)
        }
        tar.file("index.json", Self.json(.object([.init("manifests", .array([.object([
            .init("digest", .string(Digest.sha256(of: inner).description)),
            .init("annotations", .object([.init(LayoutAnnotation.containerdName, "example.com/multi:1")])),
        ])]))])))
        try Self.withStore { store in
            let images = try Self.load(tar.finish(), into: store)
            #expect(images == [ArchiveImage(config: Digest.sha256(of: host.config),
                                            layers: [.init(digest: Digest.sha256(of: host.layer), compression: .none)],
                                            repoTags: ["example.com/multi:1"], manifest: Digest.sha256(of: host.manifest))])
            #expect(store.list() == [host.layer, host.config, host.manifest, inner].map { Digest.sha256(of: $0) }.sorted())
        }
    }

    // MARK: Saving

    /// save -> load: the archive Skiff writes loads back to the same images, and has the files
    /// Docker 25 writes.
    @Test func saveThenLoadRoundTrips() throws {
        try Self.withStore { source in
            let shared = Self.layerTar("shared")
            let gz = gzip(Self.layerTar("gz"))
            let l1 = try source.ingest(shared), l2 = try source.ingest(gz)
            let config1 = Self.config([shared, gz]), config2 = Self.config([shared])
            func layer(_ d: Digest, _ bytes: [UInt8], _ c: MediaType.Compression) -> SaveImage.Layer {
                SaveImage.Layer(digest: d, size: Int64(bytes.count), path: source.path(of: d), compression: c)
            }
            let sink = BufferByteSink()
            try ImageArchive.save([
                SaveImage(config: config1, layers: [layer(l1, shared, .none), layer(l2, gz, .gzip)], repoTags: ["busybox:latest", "example.com/x/y:2"]),
                SaveImage(config: config2, layers: [layer(l1, shared, .none)], repoTags: []),
            ], to: sink)

            var names: [String] = []
            let reader = TarReader(source: BufferByteSource(sink.bytes))
            while let entry = try reader.next() { names.append(entry.path) }
            #expect(names.filter { !$0.hasPrefix("blobs/sha256/") || $0 == "blobs/sha256/" } == ["blobs/", "blobs/sha256/", "index.json", "manifest.json", "oci-layout"])
            #expect(names.count == 2 + 6 + 3)  // configs 2, layers 2, manifests 2

            try Self.withStore { target in
                let images = try Self.load(sink.bytes, into: target)
                #expect(images == [
                    ArchiveImage(config: Digest.sha256(of: config1), layers: [.init(digest: l1, compression: .none), .init(digest: l2, compression: .gzip)],
                                 repoTags: ["busybox:latest", "example.com/x/y:2"]),
                    ArchiveImage(config: Digest.sha256(of: config2), layers: [.init(digest: l1, compression: .none)], repoTags: []),
                ])
                // Without manifest.json, the OCI index names the same images by their full names.
                var oci = TarWriter()
                let reread = TarReader(source: BufferByteSource(sink.bytes))
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
                defer { buffer.deallocate() }
                while let entry = try reread.next() {
                    guard entry.kind == .regular, entry.path != "manifest.json" else { continue }
                    var content: [UInt8] = []
                    while true {
                        let n = try reread.read(into: buffer)
                        if n == 0 { break }
                        content += buffer[..<n]
                    }
                    oci.entry(entry.path, type: "0", content: content)
                }
                let fromIndex = try Self.load(oci.finish(), into: target)
                #expect(fromIndex.map(\.repoTags) == [["docker.io/library/busybox:latest", "example.com/x/y:2"], []])
                #expect(fromIndex.map(\.layers) == images.map(\.layers))
                #expect(fromIndex.map(\.config) == images.map(\.config))
            }
        }
    }

    @Test func saveRefusesALayerThatDoesNotMatch() throws {
        try Self.withStore { store in
            let bytes = Self.layerTar("x")
            let d = try store.ingest(bytes)
            let wrong = Digest.sha256(of: [1, 2, 3])
            let sink = BufferByteSink()
            expectStoreError(.corrupt, "save: layer \(wrong) at \(store.path(of: d)) hashes to \(d)") {
                try ImageArchive.save([SaveImage(config: [], layers: [.init(digest: wrong, size: Int64(bytes.count), path: store.path(of: d),
                                                                                 compression: .none)], repoTags: [])], to: sink)
            }
        }
    }

    // MARK: Refusals

    struct Refusal: CustomTestStringConvertible, Sendable {
        let name: String
        let message: String
        /// Builds the archive after a fresh, new layer and a layer already in the store.
        let build: @Sendable (inout TarWriter) -> Void
        var testDescription: String { name }
    }

    static let existing = layerTar("existing")
    static let fresh = layerTar("fresh")
    static let freshConfig = config([fresh])
    static let wrongName = "blobs/sha256/" + Digest.sha256(of: [0]).encoded

    /// An index whose only manifest is for another platform (the manifest itself is absent).
    static let onlyOther = #"{"schemaVersion": 2, "mediaType": "\#(MediaType.ociIndex)", "manifests": [{"mediaType": "\#(MediaType.ociManifest)", "digest": "\#(Digest.sha256(of: [7]))", "size": 1, "platform": {"os": "linux", "architecture": "not-this-one"}}]}"#

    static let refusals: [Refusal] = [
        Refusal(name: "dot-dot", message: #"archive entry "a/../../evil" escapes the archive ("..")"#) { $0.file("a/../../evil", "x") },
        Refusal(name: "absolute", message: #"archive entry "/etc/passwd" has an absolute path"#) { $0.file("/etc/passwd", "x") },
        Refusal(name: "symlink out", message: #"archive entry "x/layer.tar" links outside the archive"#) {
            $0.symlink("x/layer.tar", to: "../../etc/shadow")
        },
        Refusal(name: "hardlink", message: #"archive entry "x/layer.tar" is not a regular file, directory or symlink"#) {
            $0.hardlink("x/layer.tar", to: "other")
        },
        Refusal(name: "duplicate manifest.json", message: #"archive entry "./manifest.json" appears twice"#) {
            $0.file("manifest.json", "[]")
            $0.file("./manifest.json", "[]")
        },
        Refusal(name: "duplicate config", message: #"archive entry "abc.json" appears twice"#) {
            $0.file("abc.json", "{}")
            $0.file("abc.json", "{}")
        },
        Refusal(name: "missing layer", message: #"manifest.json[0].Layers[1] names "gone/layer.tar", which is not in the archive"#) {
            $0.entry(blobPath(freshConfig), type: "0", content: freshConfig)
            $0.file("manifest.json", manifestJSON(config: blobPath(freshConfig), tags: ["a:b"], layers: [blobPath(fresh), "gone/layer.tar"]))
        },
        Refusal(name: "missing config", message: #"manifest.json[0].Config names "nope.json", which is not in the archive"#) {
            $0.file("manifest.json", manifestJSON(config: "nope.json", tags: nil, layers: []))
        },
        Refusal(name: "blob not matching its name",
                message: "archive entry \"\(wrongName)\" does not match its digest: blob digest mismatch: expected \(Digest.sha256(of: [0])), got \(Digest.sha256(of: Array("evil".utf8)))") {
            $0.file(wrongName, "evil")
        },
        Refusal(name: "config not matching its name",
                message: "archive entry \"\(Digest.sha256(of: [0]).encoded).json\" does not match its digest: it hashes to \(Digest.sha256(of: Array("{}".utf8)))") {
            $0.file(Digest.sha256(of: [0]).encoded + ".json", "{}")
            $0.file("manifest.json", manifestJSON(config: Digest.sha256(of: [0]).encoded + ".json", tags: nil, layers: [blobPath(fresh)]))
        },
        Refusal(name: "blob name not a digest", message: #"archive entry "blobs/sha256/../x" escapes the archive ("..")"#) {
            $0.file("blobs/sha256/../x", "evil")
        },
        Refusal(name: "blob name not hex", message: #"archive entry "blobs/sha256/XYZ" is not named by a sha256 digest"#) {
            $0.file("blobs/sha256/XYZ", "evil")
        },
        Refusal(name: "JSON over the limit", message: #"archive entry "index.json" is 4194305 bytes, larger than the limit of 4194304 bytes"#) {
            $0.entry("index.json", type: "0", content: [UInt8](repeating: 0x20, count: (4 << 20) + 1))
        },
        Refusal(name: "bad manifest.json", message: "manifest.json: [0].Layers[0]: expected a string, found a number") {
            $0.file("manifest.json", #"[{"Config": "c.json", "Layers": [1]}]"#)
            $0.file("c.json", "{}")
        },
        Refusal(name: "not an archive of images", message: "archive has neither manifest.json nor index.json: it is not an image archive") { _ in },
        Refusal(name: "index blob absent",
                message: "index.json: manifests[0].digest names \(Digest.sha256(of: [9])), which is not in the archive") {
            $0.file("index.json", #"{"manifests": [{"digest": "\#(Digest.sha256(of: [9]))"}]}"#)
        },
        Refusal(name: "layers and manifests",
                message: "blob \(Digest.sha256(of: Array(#"{"schemaVersion": 2, "layers": [], "manifests": []}"#.utf8))): manifest has both layers and manifests") {
            let both = Array(#"{"schemaVersion": 2, "layers": [], "manifests": []}"#.utf8)
            $0.entry(blobPath(both), type: "0", content: both)
            $0.file("index.json", #"{"manifests": [{"digest": "\#(Digest.sha256(of: both))"}]}"#)
        },
        Refusal(name: "no manifest for this platform",
                message: "blob \(Digest.sha256(of: Array(onlyOther.utf8))): no matching manifest for linux/\(Descriptor.Platform.hostArchitecture) in the manifest list entries") {
            $0.entry(blobPath(Array(onlyOther.utf8)), type: "0", content: Array(onlyOther.utf8))
            $0.file("index.json", #"{"manifests": [{"digest": "\#(Digest.sha256(of: Array(onlyOther.utf8)))"}]}"#)
        },
        Refusal(name: "duplicate blob", message: "archive entry \"\(blobPath(fresh))\" appears twice") {
            $0.entry(blobPath(fresh), type: "0", content: fresh)
        },
        Refusal(name: "layout version", message: #"oci-layout: imageLayoutVersion: unsupported version "2.0.0""#) {
            $0.file("oci-layout", #"{"imageLayoutVersion": "2.0.0"}"#)
            $0.file("index.json", #"{"manifests": []}"#)
        },
    ]

    /// Each refusal names the entry, and the store keeps exactly the blobs it had before: the
    /// new layer the archive brought first is removed, the one already present stays.
    @Test(arguments: refusals) func refuses(_ refusal: Refusal) throws {
        try Self.withStore { store in
            let before = try store.ingest(Self.existing)
            var tar = TarWriter()
            tar.entry(Self.blobPath(Self.fresh), type: "0", content: Self.fresh)
            tar.entry("old/layer.tar", type: "0", content: Self.existing)
            tar.entry(Self.blobPath(Self.existing), type: "0", content: Self.existing)
            refusal.build(&tar)
            let archive = tar.finish()
            expectStoreError(.invalidArgument, refusal.message) { _ = try Self.load(archive, into: store) }
            #expect(store.list() == [before])
            #expect(Self.ingestLeftovers(store).isEmpty)
        }
    }

    @Test func refusesATruncatedArchiveLeavingTheStoreAsItWas() throws {
        var tar = TarWriter()
        tar.entry(Self.blobPath(Self.fresh), type: "0", content: Self.fresh)
        tar.entry("second", type: "0", content: Self.existing)
        let archive = Array(tar.finish().prefix(1536 + 512 + 100))
        Self.withStore { store in
            #expect(throws: ImageError.self) { try Self.load(archive, into: store) }
            #expect(store.list().isEmpty)
            #expect(Self.ingestLeftovers(store).isEmpty)
        }
    }

    /// The Sources tar writer: names past 100 bytes go into the ustar prefix, and TarReader
    /// reads back exactly what was written; a file must get exactly its declared size.
    @Test func tarWriterWritesWhatTarReaderReads() throws {
        let long = String(repeating: "d", count: 80) + "/" + String(repeating: "f", count: 90)
        let sink = BufferByteSink()
        let tar = Images.TarWriter(sink: sink, mtime: 1_700_000_000)
        try tar.directory("dir")
        try tar.file(long, Array("hello".utf8), mode: 0o600)
        try tar.file("empty", [])
        try tar.finish()
        #expect(sink.bytes.count % 512 == 0)
        let reader = TarReader(source: BufferByteSource(sink.bytes))
        var seen: [(String, TarEntry.Kind, Int, UInt32, Int64)] = []
        while let entry = try reader.next() { seen.append((entry.path, entry.kind, entry.size, entry.mode, entry.mtime)) }
        #expect(seen.map(\.0) == ["dir/", long, "empty"])
        #expect(seen.map(\.1) == [.directory, .regular, .regular])
        #expect(seen.map(\.2) == [0, 5, 0])
        #expect(seen.map(\.3) == [0o755, 0o600, 0o644])
        #expect(seen.allSatisfy { $0.4 == 1_700_000_000 })

        let short = Images.TarWriter(sink: BufferByteSink())
        try short.beginFile("f", size: 3)
        expectStoreError(.invalidArgument, #"tar entry "f": more content than its declared size"#) {
            try Images.TarWriter.withBytes([1, 2, 3, 4]) { (b) throws(ImageError) in try short.write(b) }
        }
        expectStoreError(.invalidArgument, #"tar entry "f": 3 bytes of content missing"#) { try short.finish() }
        expectStoreError(.invalidArgument, "tar entry \"\(String(repeating: "x", count: 101))\": name too long") {
            try Images.TarWriter(sink: BufferByteSink()).file(String(repeating: "x", count: 101), [])
        }
    }

    @Test(arguments: [
        ("./a//b/./c", "a/b/c"), ("manifest.json", "manifest.json"), ("blobs/sha256/", "blobs/sha256"),
    ]) func cleansPaths(_ raw: String, _ clean: String) throws {
        #expect(try ImageArchive.cleanPath(raw) == clean)
    }
}
