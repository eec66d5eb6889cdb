import Testing
@testable import Images

struct MediaTypeTests {
    @Test(arguments: [
        ("application/vnd.oci.image.layer.v1.tar", MediaType.Compression.none),
        ("application/vnd.oci.image.layer.v1.tar+gzip", .gzip),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", .gzip),
        ("application/vnd.oci.image.layer.v1.tar+zstd", .zstd),
    ])
    func layerTypesNameTheirCompression(_ type: String, _ compression: MediaType.Compression) {
        #expect(MediaType.layerCompression(type) == compression)
    }

    @Test(arguments: ["application/vnd.oci.image.manifest.v1+json", "application/json", ""])
    func otherTypesAreNotLayers(_ type: String) {
        #expect(MediaType.layerCompression(type) == nil)
    }

    @Test func indexesAreRecognised() {
        #expect(MediaType.isIndex(MediaType.ociIndex))
        #expect(MediaType.isIndex(MediaType.dockerManifestList))
        #expect(!MediaType.isIndex(MediaType.dockerManifest))
    }
}
