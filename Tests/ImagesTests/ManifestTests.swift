import Platform
import Store
import Testing
@testable import Images

/// "sha256:" and 64 copies of one hex digit: a well-formed digest that is easy to tell apart.
private func digest(_ c: Character) -> String { "sha256:" + String(repeating: c, count: 64) }

private let dockerManifest = """
{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1457,
      "digest": "\(digest("a"))"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 2220094,
         "digest": "\(digest("b"))"
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "size": 102,
         "digest": "\(digest("c"))",
         "urls": ["https://mcr.microsoft.com/v2/windows/blobs/\(digest("c"))"]
      }
   ]
}
"""

private let ociManifest = """
{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "\(digest("1"))", "size": 581},
  "layers": [
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "\(digest("2"))", "size": 3623807},
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": "\(digest("3"))", "size": 32,
     "annotations": {"org.opencontainers.image.title": "app.tar.zst"}},
    {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "\(digest("4"))", "size": 0}
  ],
  "annotations": {"org.opencontainers.image.created": "2026-10-01T00:00:00Z"}
}
"""

/// Shaped like a BuildKit-pushed multi-arch index: images for four platforms, each with an
/// attestation manifest beside it.
private let buildkitIndex = """
{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(digest("1"))", "size": 1234,
     "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(digest("2"))", "size": 1234,
     "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(digest("3"))", "size": 1234,
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(digest("4"))", "size": 1234,
     "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.20348.2113",
                  "os.features": ["win32k"]}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "\(digest("5"))", "size": 839,
     "annotations": {"vnd.docker.reference.digest": "\(digest("1"))",
                     "vnd.docker.reference.type": "attestation-manifest"},
     "platform": {"architecture": "unknown", "os": "unknown"}}
  ]
}
"""

struct ManifestTests {
    @Test func readsADockerSchema2Manifest() throws {
        guard case .image(let m) = try Manifest.read(Array(dockerManifest.utf8),
                                                     contentType: MediaType.dockerManifest) else {
            Issue.record("expected an image manifest")
            return
        }
        #expect(m.mediaType == MediaType.dockerManifest)
        #expect(m.config == Descriptor(mediaType: MediaType.dockerConfig, digest: try Digest(parsing: digest("a")), size: 1457))
        #expect(m.layers.map(\.size) == [2220094, 102])
        #expect(m.layers.map(\.digest.description) == [digest("b"), digest("c")])
        #expect(m.layers[1].urls == ["https://mcr.microsoft.com/v2/windows/blobs/\(digest("c"))"])
        #expect(m.layers.map { MediaType.layerCompression($0.mediaType) } == [.gzip, .gzip])
    }

    @Test func readsAnOCIManifestWithoutAContentType() throws {
        guard case .image(let m) = try Manifest.read(Array(ociManifest.utf8)) else {
            Issue.record("expected an image manifest")
            return
        }
        #expect(m.mediaType == MediaType.ociManifest)
        #expect(m.config.size == 581)
        #expect(m.layers.map { MediaType.layerCompression($0.mediaType) } == [.gzip, .zstd, Optional(.none)])
        #expect(m.layers[1].annotations == ["org.opencontainers.image.title": "app.tar.zst"])
        #expect(m.annotations == ["org.opencontainers.image.created": "2026-10-01T00:00:00Z"])
    }

    @Test func readsAnIndexWithPlatforms() throws {
        guard case .index(let index) = try Manifest.read(Array(buildkitIndex.utf8),
                                                         contentType: "application/vnd.oci.image.index.v1+json; charset=utf-8") else {
            Issue.record("expected an index")
            return
        }
        #expect(index.manifests.count == 5)
        #expect(index.manifests[3].platform == Descriptor.Platform(
            os: "windows", architecture: "amd64", osVersion: "10.0.20348.2113", osFeatures: ["win32k"]))
        #expect(index.manifests.map { $0.platform?.description } ==
            ["linux/amd64", "linux/arm/v7", "linux/arm64/v8", "windows/amd64", "unknown/unknown"])
    }

    /// The media type comes from the header, the document or the shape, and must agree.
    @Test(arguments: [
        // (content type, document mediaType or nil, has manifests, expected media type or error)
        ("application/vnd.docker.distribution.manifest.list.v2+json", nil, true,
         "application/vnd.docker.distribution.manifest.list.v2+json"),
        ("application/json", nil, true, "application/vnd.oci.image.index.v1+json"),
        ("", nil, false, "application/vnd.oci.image.manifest.v1+json"),
        ("application/octet-stream", "application/vnd.docker.distribution.manifest.v2+json", false,
         "application/vnd.docker.distribution.manifest.v2+json"),
        ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json", false,
         "manifest: mediaType: \"application/vnd.oci.image.manifest.v1+json\" does not match the Content-Type \"application/vnd.docker.distribution.manifest.v2+json\""),
        ("application/vnd.oci.artifact.manifest.v1+json", nil, false,
         "manifest: unsupported media type \"application/vnd.oci.artifact.manifest.v1+json\""),
        ("application/vnd.oci.image.index.v1+json", nil, false, "manifest: an index (application/vnd.oci.image.index.v1+json) has no config or layers"),
    ] as [(String, String?, Bool, String)])
    func mediaTypeSources(_ contentType: String, _ declared: String?, _ isIndex: Bool, _ expected: String) {
        var text = "{\"schemaVersion\": 2, "
        if let declared { text += "\"mediaType\": \"\(declared)\", " }
        if isIndex {
            text += "\"manifests\": []}"
        } else {
            text += "\"config\": {\"mediaType\": \"\(MediaType.ociConfig)\", \"digest\": \"\(digest("e"))\", \"size\": 2}, \"layers\": []}"
        }
        do {
            let manifest = try Manifest.read(Array(text.utf8), contentType: contentType)
            #expect(manifest.mediaType == expected)
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == expected)
        }
    }

    private static let layer0 = "{\"mediaType\": \"\(MediaType.ociLayerGzip)\", \"digest\": \"\(digest("2"))\", \"size\": 10}"
    private static func manifest(layers: [String], config: String? = nil) -> String {
        let config = config ?? "{\"mediaType\": \"\(MediaType.ociConfig)\", \"digest\": \"\(digest("1"))\", \"size\": 2}"
        return "{\"schemaVersion\": 2, \"mediaType\": \"\(MediaType.ociManifest)\", \"config\": \(config), \"layers\": [\(layers.joined(separator: ","))]}"
    }

    @Test(arguments: [
        (manifest(layers: [layer0, layer0, "{\"mediaType\": \"\(MediaType.ociLayerGzip)\", \"digest\": \"sha256:../../x\", \"size\": 1}"]),
         "manifest: layers[2].digest: invalid digest \"sha256:../../x\""),
        (manifest(layers: ["{\"mediaType\": \"\(MediaType.ociLayerGzip)\", \"digest\": \"sha256:\(String(repeating: "A", count: 64))\", \"size\": 1}"]),
         "manifest: layers[0].digest: invalid digest \"sha256:\(String(repeating: "A", count: 64))\""),
        (manifest(layers: ["{\"mediaType\": \"\(MediaType.ociLayerGzip)\", \"digest\": \"sha512:\(String(repeating: "a", count: 128))\", \"size\": 1}"]),
         "manifest: layers[0].digest: unsupported digest algorithm \"sha512\" in \"sha512:\(String(repeating: "a", count: 128))\""),
        (manifest(layers: [layer0, "{\"mediaType\": \"\(MediaType.ociLayerGzip)\", \"digest\": \"\(digest("3"))\", \"size\": -1}"]),
         "manifest: layers[1].size: size must not be negative, found -1"),
        (manifest(layers: ["{\"mediaType\": \"\(MediaType.ociLayerGzip)\", \"digest\": \"\(digest("3"))\", \"size\": \"10\"}"]),
         "manifest: layers[0].size: expected a number, found a string"),
        (manifest(layers: ["{\"mediaType\": \"application/vnd.in-toto+json\", \"digest\": \"\(digest("3"))\", \"size\": 10}"]),
         "manifest: layers[0].mediaType: unsupported layer media type \"application/vnd.in-toto+json\""),
        (manifest(layers: ["{\"digest\": \"\(digest("3"))\", \"size\": 10}"]),
         "manifest: missing layers[0].mediaType"),
        (manifest(layers: [], config: "{\"mediaType\": \"application/vnd.cncf.helm.config.v1+json\", \"digest\": \"\(digest("1"))\", \"size\": 2}"),
         "manifest: config.mediaType: unsupported config media type \"application/vnd.cncf.helm.config.v1+json\""),
        (manifest(layers: [], config: "{\"mediaType\": \"\(MediaType.ociConfig)\", \"digest\": \"\(digest("1"))\"}"),
         "manifest: missing config.size"),
        ("{\"schemaVersion\": 2, \"mediaType\": \"\(MediaType.ociManifest)\", \"layers\": []}", "manifest: missing config"),
        ("{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"\(MediaType.ociManifest)\", \"digest\": \"sha256:abc\", \"size\": 1}]}",
         "manifest: manifests[0].digest: invalid digest \"sha256:abc\""),
        ("{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"\(MediaType.ociManifest)\", \"digest\": \"\(digest("1"))\", \"size\": 1, \"platform\": {\"os\": \"linux\"}}]}",
         "manifest: missing manifests[0].platform.architecture"),
        ("{\"schemaVersion\": 2, \"layers\": [], \"manifests\": []}", "manifest has both layers and manifests"),
        ("{\"schemaVersion\": 1, \"name\": \"library/busybox\", \"tag\": \"latest\", \"fsLayers\": []}",
         "manifest: Docker image manifest schema version 1 is not supported; the image must be pushed again with a current client"),
        ("{\"schemaVersion\": 3, \"manifests\": []}", "manifest: schemaVersion: unsupported schema version 3, expected 2"),
        ("{\"manifests\": []}", "manifest: missing schemaVersion"),
        ("[]", "manifest: expected an object, found an array"),
        ("{\"schemaVersion\": 2,", "manifest: invalid JSON: line 1, column 21: expected a key in double quotes, found the end of the file"),
    ])
    func refusesBadManifests(_ text: String, _ message: String) {
        do {
            _ = try Manifest.read(Array(text.utf8))
            Issue.record("read a bad manifest")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == message)
        }
    }

    @Test func schema1ContentTypeIsRefusedBeforeParsing() {
        do {
            _ = try Manifest.read(Array("not json".utf8), contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws")
            Issue.record("read a schema1 manifest")
        } catch {
            #expect(error.message == "manifest: Docker image manifest schema version 1 is not supported; the image must be pushed again with a current client")
        }
    }

    @Test func sizeLimit() throws {
        // A valid manifest padded with spaces to exactly 4 MiB is read; one byte more is refused.
        var bytes = Array(ociManifest.utf8)
        bytes += [UInt8](repeating: 0x20, count: Manifest.maximumSize - bytes.count)
        #expect(bytes.count == 4_194_304)
        _ = try Manifest.read(bytes)
        bytes.append(0x20)
        do {
            _ = try Manifest.read(bytes)
            Issue.record("read a manifest over the limit")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "manifest larger than 4194304 bytes")
        }
    }

    // MARK: - Platform selection

    private static func index(_ entries: [(platform: String, annotations: String)]) throws -> ManifestIndex {
        let hex = Array("0123456789abcdef")
        let manifests = entries.enumerated().map { i, entry in
            let parts = entry.platform.split(separator: "/").map(String.init)
            var platform = "\"os\": \"\(parts[0])\", \"architecture\": \"\(parts[1])\""
            if parts.count > 2 { platform += ", \"variant\": \"\(parts[2])\"" }
            let annotations = entry.annotations.isEmpty ? "" : ", \"annotations\": {\(entry.annotations)}"
            return "{\"mediaType\": \"\(MediaType.dockerManifest)\", \"digest\": \"\(digest(hex[i]))\", \"size\": 500, \"platform\": {\(platform)}\(annotations)}"
        }
        let text = "{\"schemaVersion\": 2, \"mediaType\": \"\(MediaType.dockerManifestList)\", \"manifests\": [\(manifests.joined(separator: ","))]}"
        guard case .index(let index) = try Manifest.read(Array(text.utf8)) else { throw ImageError(.invalidState, "not an index") }
        return index
    }

    /// Entries as "os/arch[/variant]"; the expected result is the index of the chosen entry or
    /// Docker's error.
    @Test(arguments: [
        (["linux/amd64", "linux/arm64/v8"], "linux/amd64", "0"),
        (["linux/arm64/v8", "linux/amd64"], "linux/amd64", "1"),
        (["linux/arm/v7", "linux/arm64"], "linux/arm64", "1"),
        (["linux/arm64/v8", "linux/amd64"], "linux/arm64/v8", "0"),
        (["linux/arm64", "linux/amd64"], "linux/arm64/v8", "0"),
        (["linux/aarch64", "linux/x86_64"], "linux/amd64", "1"),
        // amd64 variants: an older level runs on a newer CPU, the best one wins.
        (["linux/amd64/v3", "linux/amd64/v2", "linux/amd64"], "linux/amd64/v3", "0"),
        (["linux/amd64", "linux/amd64/v2", "linux/amd64/v4"], "linux/amd64/v3", "1"),
        (["linux/amd64/v3"], "linux/amd64", "no matching manifest for linux/amd64 in the manifest list entries"),
        (["linux/amd64/v1"], "linux/amd64", "0"),
        (["linux/386", "linux/amd64"], "linux/amd64", "1"),
        (["linux/386"], "linux/amd64", "0"),
        // arm64: v8 by default; 32-bit arm only as a fallback.
        (["linux/arm/v7", "linux/arm/v6"], "linux/arm64", "0"),
        (["linux/arm64/v8.2"], "linux/arm64", "no matching manifest for linux/arm64/v8 in the manifest list entries"),
        (["linux/arm64/v8", "linux/arm64/v8.2"], "linux/arm64/v9", "1"),
        (["linux/arm64/v8.6"], "linux/arm64/v9", "no matching manifest for linux/arm64/v9 in the manifest list entries"),
        (["linux/arm64/v8", "linux/arm64/v8.6", "linux/arm64/v9"], "linux/arm64/v9.1", "2"),
        (["linux/arm64/v8", "linux/arm64/v8.6"], "linux/arm64/v9.1", "1"),
        (["linux/arm64/v8.1", "linux/arm64/v8.3"], "linux/arm64/v8.2", "0"),
        (["linux/arm/v8", "linux/arm/v7"], "linux/arm64", "0"),
        (["linux/arm/v6", "linux/arm/v7"], "linux/arm/v7", "1"),
        (["linux/arm/v7"], "linux/arm/v6", "no matching manifest for linux/arm/v6 in the manifest list entries"),
        // Another OS or architecture is never chosen.
        (["windows/amd64", "linux/arm64/v8"], "linux/amd64", "no matching manifest for linux/amd64 in the manifest list entries"),
        (["linux/ppc64le", "linux/s390x"], "linux/arm64", "no matching manifest for linux/arm64/v8 in the manifest list entries"),
        (["linux/riscv64"], "linux/riscv64", "0"),
        ([], "linux/amd64", "no matching manifest for linux/amd64 in the manifest list entries"),
    ])
    func selection(_ entries: [String], _ wanted: String, _ expected: String) throws {
        let index = try Self.index(entries.map { ($0, "") })
        let parts = wanted.split(separator: "/").map(String.init)
        let platform = Descriptor.Platform(os: parts[0], architecture: parts[1], variant: parts.count > 2 ? parts[2] : "")
        do {
            let chosen = try index.select(platform)
            #expect(index.manifests.firstIndex(of: chosen).map(String.init) == expected)
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message == expected)
        }
    }

    @Test func attestationsAreNeverChosen() throws {
        guard case .index(let buildkit) = try Manifest.read(Array(buildkitIndex.utf8)) else {
            Issue.record("expected an index")
            return
        }
        #expect(try buildkit.select(Descriptor.Platform(os: "linux", architecture: "amd64")).digest.description == digest("1"))
        #expect(try buildkit.select(Descriptor.Platform(os: "linux", architecture: "arm64")).digest.description == digest("3"))
        #expect(try buildkit.select(Descriptor.Platform(os: "windows", architecture: "amd64")).digest.description == digest("4"))

        // Only attestations (the image entries removed): nothing to choose, even for a caller
        // asking for unknown/unknown, and an attestation annotated on a linux/amd64 platform.
        let attestation = "\"vnd.docker.reference.type\": \"attestation-manifest\""
        let onlyAttestations = try Self.index([("unknown/unknown", attestation), ("linux/amd64", attestation)])
        for wanted in [Descriptor.Platform(os: "linux", architecture: "amd64"), Descriptor.Platform(os: "unknown", architecture: "unknown")] {
            do {
                _ = try onlyAttestations.select(wanted)
                Issue.record("chose an attestation for \(wanted)")
            } catch {
                #expect(error.message == "no matching manifest for \(wanted) in the manifest list entries")
            }
        }
    }

    @Test(arguments: [
        (Descriptor.Platform(os: "Linux", architecture: "x86_64"), "linux/amd64"),
        (Descriptor.Platform(os: "linux", architecture: "amd64", variant: "v1"), "linux/amd64"),
        (Descriptor.Platform(os: "linux", architecture: "aarch64"), "linux/arm64/v8"),
        (Descriptor.Platform(os: "linux", architecture: "arm64", variant: "8"), "linux/arm64/v8"),
        (Descriptor.Platform(os: "linux", architecture: "armhf"), "linux/arm/v7"),
        (Descriptor.Platform(os: "linux", architecture: "arm"), "linux/arm/v7"),
        (Descriptor.Platform(os: "linux", architecture: "i686"), "linux/386"),
    ])
    func normalization(_ platform: Descriptor.Platform, _ expected: String) {
        #expect(platform.normalized.description == expected)
    }
}
