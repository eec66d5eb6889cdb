import Distribution
import Images
import Platform

/// `skiff-image distribution-inspect --reference REF [--insecure] [--cert-dir DIR] [--timeout S]`:
/// moby's `DistributionInspect` (`GET /distribution/{name}/json`, `docker manifest`-style
/// lookups by compose and buildx): the descriptor of the reference's manifest in the registry
/// and the platforms it offers (an index's entries; a single manifest's config), as one JSON
/// object on standard output. Nothing is stored.
extension Worker {
    func distributionInspect() throws {
        let reference = try Reference(parsing: try options.required("--reference"))
        let client = try client(for: reference, push: false)
        let top = try fetchManifest(client, reference.digest ?? reference.tag ?? Reference.defaultTag, reference: reference)
        var platforms: [JSON] = []
        switch try Manifest.read(top.bytes, contentType: top.mediaType) {
        case .index(let index):
            platforms = index.manifests.compactMap { $0.platform.map(Worker.platformJSON) }
        case .image(let image):
            let bytes = try fetchSmallBlob(client, image.config.digest, size: image.config.size,
                                           limit: ImageConfig.maximumSize, what: "image config")
            let config = try ImageConfig.read(bytes)
            if !config.os.isEmpty || !config.architecture.isEmpty {
                platforms = [Worker.platformJSON(Descriptor.Platform(os: config.os, architecture: config.architecture,
                                                                     variant: config.variant ?? ""))]
            }
        }
        let descriptor = JSON.object([JSON.Member("mediaType", .string(top.mediaType)),
                                      JSON.Member("digest", .string(top.digest.description)),
                                      JSON.Member("size", .int(Int64(top.bytes.count)))])
        Output.message(.object([JSON.Member("Descriptor", descriptor), JSON.Member("Platforms", .array(platforms))]))
    }

    /// An OCI platform as moby writes it (empty fields left out).
    static func platformJSON(_ platform: Descriptor.Platform) -> JSON {
        var members = [JSON.Member("architecture", .string(platform.architecture)), JSON.Member("os", .string(platform.os))]
        if !platform.osVersion.isEmpty { members.append(JSON.Member("os.version", .string(platform.osVersion))) }
        if !platform.osFeatures.isEmpty { members.append(JSON.Member("os.features", JSON(platform.osFeatures))) }
        if !platform.variant.isEmpty { members.append(JSON.Member("variant", .string(platform.variant))) }
        return .object(members)
    }
}
