import Testing
@testable import Store

/// `sha256:` + 64 hex made from a short tag, e.g. digest("a1") = sha256:a1a1a1...
private func digest(_ seed: String) -> String {
    var hex = ""
    while hex.count < 64 { hex += seed }
    return "sha256:" + hex.prefix(64)
}

/// A store in a temp dir with ready layers base <- mid <- top and base <- other.
private final class Fixture {
    let dir = TempDir()
    let store: Store
    let base = digest("b0"), mid = digest("b1"), top = digest("b2"), other = digest("b3")

    init() throws {
        store = try Store(root: dir.path + "/skiff")
        for (chain, parent) in [(base, nil), (mid, base), (top, mid), (other, base)] as [(String, String?)] {
            try store.beginLayer(chainID: chain, diffID: digest("d" + chain.suffix(1)), parent: parent)
            try store.finishLayer(chainID: chain, size: 100)
        }
    }

    func count(_ table: String) throws -> Int64 {
        try store.database.queryScalarInt("SELECT count(*) FROM \(table)") ?? -1
    }

    func addContainer(_ id: String, image: String, state: String) throws {
        try store.database.query("""
            INSERT INTO containers (id, name, image_id, created, state, config) VALUES (?, ?, ?, 1, ?, x'7b7d')
            """, [.text(id), .text("c" + id.prefix(6)), .text(image), .text(state)])
    }
}

/// Runs `body`, which must throw a StoreError with exactly this code and message.
private func expectError(_ code: StoreError.Code, _ message: String,
                         sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("no error; expected \(message)", sourceLocation: sourceLocation)
    } catch let error as StoreError {
        #expect(error.code == code, sourceLocation: sourceLocation)
        #expect(error.message == message, sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

struct ImageRecordsTests {
    let imageA = digest("a1"), imageB = digest("a2")

    @Test func migrationFromVersion3KeepsImagesNamesAndContainers() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path + "/skiff.db")
        try db.migrate(to: 3)
        try db.query("INSERT INTO images (id, created, size, config) VALUES (?, 5, 7, x'7b7d')", [.text(imageA)])
        try db.query("INSERT INTO image_names (name, image_id) VALUES ('localhost/a:latest', ?)", [.text(imageA)])
        try db.query("INSERT INTO containers (id, name, image_id, created, state, config) VALUES ('c1', 'web', ?, 1, 'exited', x'7b7d')", [.text(imageA)])
        #expect(try db.migrate() == (3, Migration.latestVersion))
        let store = try Store(root: dir.path)
        let image = try #require(try store.image(byNameOrID: "localhost/a:latest"))
        #expect(image == ImageRecord(id: imageA, created: 5, size: 7, config: Array("{}".utf8),
                                     names: ["localhost/a:latest"], digests: [], layers: []))
        #expect(try db.queryScalarText("SELECT image_id FROM containers WHERE id = 'c1'") == imageA)
    }

    @Test func layerLifecycleAndItsErrors() throws {
        let f = try Fixture()
        let layer = try #require(try f.store.layer(chainID: f.mid))
        #expect(layer.parent == f.base && layer.state == .ready && layer.size == 100)
        let new = digest("c0")
        expectError(.exists, "layer \(f.base) already exists") {
            try f.store.beginLayer(chainID: f.base, diffID: digest("dd"), parent: nil)
        }
        expectError(.notFound, "parent layer \(digest("ee")) of \(new) does not exist") {
            try f.store.beginLayer(chainID: new, diffID: digest("dd"), parent: digest("ee"))
        }
        expectError(.invalidArgument, "invalid layer chain id \"sha256:../../x\": want sha256:<64 hex digits>") {
            try f.store.beginLayer(chainID: "sha256:../../x", diffID: digest("dd"), parent: nil)
        }
        try f.store.beginLayer(chainID: new, diffID: digest("dd"), parent: f.top)
        #expect(try f.store.layer(chainID: new)?.state == .unpacking)
        expectError(.exists, "layer \(new) is already being unpacked") {
            try f.store.beginLayer(chainID: new, diffID: digest("dd"), parent: nil)
        }
        expectError(.invalidState, "parent layer \(new) of \(digest("c1")) is not ready") {
            try f.store.beginLayer(chainID: digest("c1"), diffID: digest("dd"), parent: new)
        }
        // A layer with a child being unpacked, and its ancestors, are not unused.
        #expect(try f.store.unusedLayers() == [f.other])
        try f.store.abandonLayer(chainID: new)
        #expect(try f.store.layer(chainID: new) == nil)
        expectError(.notFound, "no such layer: \(new)") { try f.store.abandonLayer(chainID: new) }
        expectError(.notFound, "no such layer: \(new)") { try f.store.finishLayer(chainID: new, size: 1) }
        expectError(.invalidState, "layer \(f.base) is ready, not being unpacked") {
            try f.store.abandonLayer(chainID: f.base)
        }
        expectError(.invalidState, "layer \(f.base) is already ready") { try f.store.finishLayer(chainID: f.base, size: 1) }
        // Children before parents.
        #expect(try f.store.unusedLayers() == [f.top, f.mid, f.other, f.base])
        expectError(.invalidState, "layer \(f.base) has layers on top of it") { try f.store.removeLayer(chainID: f.base) }
        try f.store.removeLayer(chainID: f.other)
        #expect(try f.store.unusedLayers() == [f.top, f.mid, f.base])
    }

    @Test func addImageListsAndResolvesIt() throws {
        let f = try Fixture()
        #expect(try f.store.addImage(id: imageA, config: Array("{}".utf8), size: 300, created: 10,
                                     layers: [f.base, f.mid, f.top], names: ["docker.io/library/a:latest"],
                                     digests: ["docker.io/library/a@" + digest("f0")]))
        let a = try #require(try f.store.image(byNameOrID: imageA))
        #expect(a.layers == [f.base, f.mid, f.top])
        #expect(a.names == ["docker.io/library/a:latest"])
        #expect(a.digests == ["docker.io/library/a@" + digest("f0")])
        #expect(!a.isDangling)
        #expect(try f.store.image(byNameOrID: "a", normalizedName: "docker.io/library/a:latest")?.id == imageA)
        #expect(try f.store.image(byNameOrID: "docker.io/library/a@" + digest("f0"))?.id == imageA)
        #expect(try f.store.image(byNameOrID: String(imageA.dropFirst(7)))?.id == imageA)
        #expect(try f.store.layerReferences(chainID: f.base) == 1)
        // Adding it again only adds names.
        #expect(try !f.store.addImage(id: imageA, config: [], size: 0, created: 0, layers: [f.base, f.mid, f.top],
                                      names: ["localhost/a:v2"]))
        #expect(try f.store.image(byNameOrID: imageA)?.names == ["docker.io/library/a:latest", "localhost/a:v2"])
        expectError(.invalidState, "image a1a1a1a1a1a1 already exists with other layers") {
            try f.store.addImage(id: imageA, config: [], size: 0, created: 0, layers: [f.base])
        }
        try f.store.addImage(id: imageB, config: [], size: 0, created: 20, layers: [f.base])
        #expect(try f.store.images(all: false).map(\.id) == [imageB, imageA])
        #expect(try f.store.images(all: true).map(\.id) == [imageB, imageA])
        #expect(try f.store.danglingImages().map(\.id) == [imageB])
    }

    @Test func addImageWithAMissingOrUnreadyLayerLeavesNoRows() throws {
        let f = try Fixture()
        let missing = digest("99")
        expectError(.invalidState, "image a1a1a1a1a1a1: layer \(missing) does not exist") {
            try f.store.addImage(id: imageA, config: [], size: 0, created: 0, layers: [f.base, missing], names: ["x:1"])
        }
        try f.store.beginLayer(chainID: missing, diffID: digest("dd"), parent: f.base)
        expectError(.invalidState, "image a1a1a1a1a1a1: layer \(missing) is not ready") {
            try f.store.addImage(id: imageA, config: [], size: 0, created: 0, layers: [f.base, missing], names: ["x:1"])
        }
        expectError(.invalidArgument, "invalid image id \"sha256:abc\": want sha256:<64 hex digits>") {
            try f.store.addImage(id: "sha256:abc", config: [], size: 0, created: 0, layers: [])
        }
        expectError(.invalidArgument, "invalid repository digest \"x@sha256:1\"") {
            try f.store.addImage(id: imageA, config: [], size: 0, created: 0, layers: [], digests: ["x@sha256:1"])
        }
        #expect(try f.count("images") == 0)
        #expect(try f.count("image_layers") == 0)
        #expect(try f.count("image_names") == 0)
    }

    @Test func tagMovesANameAndUntagReportsNamelessness() throws {
        let f = try Fixture()
        try f.store.addImage(id: imageA, config: [], size: 0, created: 1, layers: [f.base],
                             names: ["r/a:1", "r/a:2"], digests: ["r/a@" + digest("f0"), "q/a@" + digest("f1")])
        try f.store.addImage(id: imageB, config: [], size: 0, created: 2, layers: [f.base])
        #expect(try f.store.tag(imageID: imageB, name: "r/a:1") == imageA)
        #expect(try f.store.tag(imageID: imageB, name: "r/a:1") == nil)
        #expect(try f.store.image(byNameOrID: "r/a:1")?.id == imageB)
        expectError(.notFound, "No such image: \(digest("99"))") { try f.store.tag(imageID: digest("99"), name: "x:1") }
        expectError(.invalidArgument, "invalid tag name \"\"") { try f.store.tag(imageID: imageB, name: "") }
        // The repository's last tag goes with its digest of the image; the other repository's stays.
        #expect(try f.store.untag(name: "r/a:2") ==
                Untagging(imageID: imageA, untagged: ["r/a:2", "r/a@" + digest("f0")], isNameless: false))
        #expect(try f.store.untag(name: "q/a@" + digest("f1")) ==
                Untagging(imageID: imageA, untagged: ["q/a@" + digest("f1")], isNameless: true))
        expectError(.notFound, "No such image: r/a:2") { _ = try f.store.untag(name: "r/a:2") }
        #expect(try f.store.danglingImages().map(\.id) == [imageA])
    }

    @Test func prefixResolution() throws {
        let f = try Fixture()
        let one = "sha256:abc1" + String(repeating: "0", count: 60)
        let two = "sha256:abc2" + String(repeating: "0", count: 60)
        try f.store.addImage(id: one, config: [], size: 0, created: 1, layers: [], names: ["abc:latest"])
        try f.store.addImage(id: two, config: [], size: 0, created: 2, layers: [])
        #expect(try f.store.image(byNameOrID: "abc1")?.id == one)
        #expect(try f.store.image(byNameOrID: "sha256:abc2")?.id == two)
        #expect(try f.store.image(byNameOrID: "abc3") == nil)
        #expect(try f.store.image(byNameOrID: "ABC1") == nil)
        #expect(try f.store.image(byNameOrID: two)?.id == two)
        #expect(try f.store.image(byNameOrID: String(two.dropFirst(7)))?.id == two)
        // A name wins over an id prefix; the raw input is still tried as a prefix.
        #expect(try f.store.image(byNameOrID: "abc", normalizedName: "abc:latest")?.id == one)
        #expect(try f.store.image(byNameOrID: "abc2", normalizedName: "docker.io/library/abc2:latest")?.id == two)
        expectError(.invalidArgument, "multiple IDs found with provided prefix: abc") {
            _ = try f.store.image(byNameOrID: "abc", normalizedName: "docker.io/library/abc:latest")
        }
    }

    @Test func deletingAnImageAContainerUsesIsRefused() throws {
        let f = try Fixture()
        try f.store.addImage(id: imageA, config: [], size: 0, created: 1, layers: [f.base], names: ["r/a:1"])
        let running = "d1" + String(repeating: "0", count: 62)
        let stopped = "e1" + String(repeating: "0", count: 62)
        try f.addContainer(stopped, image: imageA, state: "exited")
        expectError(.invalidState, "conflict: unable to delete a1a1a1a1a1a1 (must be forced) - image is being used by stopped container e10000000000") {
            _ = try f.store.deleteImage(id: imageA, force: false)
        }
        try f.addContainer(running, image: imageA, state: "running")
        for force in [false, true] {
            expectError(.invalidState, "conflict: unable to delete a1a1a1a1a1a1 (cannot be forced) - image is being used by running container d10000000000") {
                _ = try f.store.deleteImage(id: imageA, force: force)
            }
        }
        try f.store.database.query("DELETE FROM containers WHERE id = ?", [.text(running)])
        // Forced with a stopped container: the names go, the image stays for the container.
        #expect(try f.store.deleteImage(id: imageA, force: true) ==
                ImageDeletion(untagged: ["r/a:1"], deleted: false, releasedLayers: []))
        #expect(try f.store.danglingImages().map(\.id) == [imageA])
        #expect(try f.store.layer(chainID: f.base) != nil)
        // The foreign key holds even without the checks.
        expectError(.invalidArgument, "\(f.store.database.path): FOREIGN KEY constraint failed") {
            try f.store.database.execute("DELETE FROM images")
        }
    }

    @Test func deletingByIDWithSeveralTagsNeedsForce() throws {
        let f = try Fixture()
        try f.store.addImage(id: imageA, config: [], size: 0, created: 1, layers: [f.base], names: ["r/a:1", "q/a:1"])
        expectError(.invalidState, "conflict: unable to delete a1a1a1a1a1a1 (must be forced) - image is referenced in multiple repositories") {
            _ = try f.store.deleteImage(id: imageA, force: false)
        }
        // The base layer is unused now but other layers sit on it: it waits for unusedLayers().
        #expect(try f.store.deleteImage(id: imageA, force: true) ==
                ImageDeletion(untagged: ["q/a:1", "r/a:1"], deleted: true, releasedLayers: []))
        #expect(try f.store.unusedLayers() == [f.top, f.mid, f.other, f.base])
        expectError(.notFound, "No such image: \(imageA)") { _ = try f.store.deleteImage(id: imageA, force: true) }
        #expect(try f.count("image_names") == 0)
    }

    @Test func sharedLayersStayUntilTheLastImageGoes() throws {
        let f = try Fixture()
        try f.store.addImage(id: imageA, config: [], size: 0, created: 1, layers: [f.base, f.mid, f.top], names: ["r/a:1"])
        try f.store.addImage(id: imageB, config: [], size: 0, created: 2, layers: [f.base, f.other], names: ["r/b:1"])
        #expect(try f.store.layerReferences(chainID: f.base) == 2)
        #expect(try f.store.layerReferences(chainID: f.top) == 1)
        #expect(try f.store.unusedLayers() == [])
        // Also counted through a child: a row for an image that lists only its top layer.
        try f.store.database.query("DELETE FROM image_layers WHERE image_id = ? AND position < 2", [.text(imageA)])
        #expect(try f.store.layerReferences(chainID: f.mid) == 1)
        #expect(try f.store.layerReferences(chainID: f.base) == 2)
        try f.store.database.query("INSERT INTO image_layers VALUES (?, 0, ?), (?, 1, ?)",
                                   [.text(imageA), .text(f.base), .text(imageA), .text(f.mid)])

        let first = try f.store.deleteImage(id: imageA, force: false)
        #expect(first == ImageDeletion(untagged: ["r/a:1"], deleted: true, releasedLayers: [f.top, f.mid]))
        #expect(try f.store.layer(chainID: f.base) != nil)
        #expect(try f.store.layer(chainID: f.top) == nil)
        #expect(try f.store.layerReferences(chainID: f.base) == 1)
        let second = try f.store.deleteImage(id: imageB, force: false)
        #expect(second == ImageDeletion(untagged: ["r/b:1"], deleted: true, releasedLayers: [f.other, f.base]))
        #expect(try f.count("layers") == 0)
        #expect(try f.count("images") == 0)
        #expect(try f.count("image_layers") == 0)
    }

    @Test func layerBlobsAreReleasedWithTheirLastLayer() throws {
        let f = try Fixture()
        let blob = digest("c1"), raw = digest("c2")
        let diffID = try #require(try f.store.layer(chainID: f.top)).diffID
        try f.store.recordLayerBlob(LayerBlobRecord(digest: raw, diffID: diffID,
                                                    mediaType: "application/vnd.oci.image.layer.v1.tar", size: 30))
        try f.store.recordLayerBlob(LayerBlobRecord(digest: blob, diffID: diffID,
                                                    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: 10))
        // Compressed first: a push sends what was pulled.
        #expect(try f.store.layerBlobs(diffID: diffID).map(\.digest) == [blob, raw])
        #expect(try f.store.releaseUnusedLayerBlobs() == [])
        expectError(.invalidArgument, "invalid layer blob digest \"sha256:../x\": want sha256:<64 hex digits>") {
            try f.store.recordLayerBlob(LayerBlobRecord(digest: "sha256:../x", diffID: diffID, mediaType: "m", size: 1))
        }
        try f.store.removeLayer(chainID: f.top)
        #expect(try f.store.releaseUnusedLayerBlobs() == [blob, raw].sorted())
        #expect(try f.store.layerBlob(digest: blob) == nil)
        #expect(try f.count("layer_blobs") == 0)
    }
}
