/// The media types of OCI and Docker image manifests, configs and layers.
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    /// How a layer blob is compressed.
    public enum Compression: Sendable, Equatable {
        case none, gzip, zstd
    }

    /// The compression a layer media type names; nil for a type that is not a layer.
    public static func layerCompression(_ mediaType: String) -> Compression? {
        switch mediaType {
        case ociLayer, "application/vnd.oci.image.layer.nondistributable.v1.tar": return Compression.none
        case ociLayerGzip, dockerLayerGzip, dockerForeignLayerGzip,
             "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": return .gzip
        case ociLayerZstd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": return .zstd
        default: return nil
        }
    }

    /// Whether a manifest media type lists other manifests (one per platform).
    public static func isIndex(_ mediaType: String) -> Bool {
        mediaType == ociIndex || mediaType == dockerManifestList
    }
}
