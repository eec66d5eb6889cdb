import Platform

/// A reference to content: what it is, its digest and size (OCI "descriptor").
public struct Descriptor: Sendable, Equatable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    /// Other places the blob may be fetched from (foreign layers).
    public var urls: [String]
    public var annotations: [String: String]
    /// In an index: the platform the manifest is for.
    public var platform: Platform?

    public init(mediaType: String, digest: Digest, size: Int64, urls: [String] = [],
                annotations: [String: String] = [:], platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.platform = platform
    }

    /// An operating system and CPU, as an index entry or `--platform` names them.
    public struct Platform: Sendable, Equatable, CustomStringConvertible {
        public var os: String
        public var architecture: String
        public var variant: String
        /// `os.version` (Windows builds).
        public var osVersion: String
        /// `os.features`.
        public var osFeatures: [String]

        public init(os: String, architecture: String, variant: String = "", osVersion: String = "",
                    osFeatures: [String] = []) {
            self.os = os
            self.architecture = architecture
            self.variant = variant
            self.osVersion = osVersion
            self.osFeatures = osFeatures
        }

        /// "linux/amd64", "linux/arm64/v8", as Docker writes a platform in messages.
        public var description: String {
            variant.isEmpty ? "\(os)/\(architecture)" : "\(os)/\(architecture)/\(variant)"
        }
    }
}

/// An OCI image index or Docker manifest list: one manifest per platform.
public struct ManifestIndex: Sendable, Equatable {
    public var mediaType: String
    public var manifests: [Descriptor]
    public var annotations: [String: String]
}

/// An OCI image manifest or Docker schema2 manifest: a config and layers, bottom first.
public struct ImageManifest: Sendable, Equatable {
    public var mediaType: String
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]
}

/// A manifest document as a registry or an archive serves it.
public enum Manifest: Sendable, Equatable {
    case index(ManifestIndex)
    case image(ImageManifest)

    /// Larger manifests are refused before parsing (containerd and the registry use 4 MiB).
    public static let maximumSize = 4 << 20

    public var mediaType: String {
        switch self {
        case .index(let index): return index.mediaType
        case .image(let image): return image.mediaType
        }
    }

    /// Reads a manifest. `contentType` is the HTTP Content-Type, if any; generic types
    /// (`application/json`, `application/octet-stream`, `text/plain`) count as absent. The media
    /// type comes from it or from the document's `mediaType`, which must agree when both are
    /// present; with neither, the document's shape decides (an OCI index or manifest).
    public static func read(_ bytes: [UInt8], contentType: String? = nil) throws(ImageError) -> Manifest {
        let r = FieldReader(source: "manifest")
        let header = contentType.flatMap(Manifest.specificMediaType)
        if let header, Manifest.isSchema1(header) { throw Manifest.schema1Error }
        let json = try r.parse(bytes, limit: maximumSize)

        if let version = r.member(json, "schemaVersion") {
            let n = try r.int64(version, "schemaVersion")
            if n == 1 { throw Manifest.schema1Error }
            guard n == 2 else { throw r.fail("schemaVersion", "unsupported schema version \(n), expected 2") }
        } else {
            throw r.fail("", "missing schemaVersion")
        }
        let declared = try r.optionalString(json, "mediaType", "")
        if let declared, Manifest.isSchema1(declared) { throw Manifest.schema1Error }
        if let declared, let header, declared != header {
            throw r.fail("mediaType", "\"\(declared)\" does not match the Content-Type \"\(header)\"")
        }
        let hasLayers = r.member(json, "layers") != nil
        let hasManifests = r.member(json, "manifests") != nil
        if hasLayers && hasManifests { throw ImageError(.invalidArgument, "manifest has both layers and manifests") }

        let mediaType = declared ?? header ?? (hasManifests ? MediaType.ociIndex : MediaType.ociManifest)
        let annotations = try r.optionalStringMap(json, "annotations", "") ?? [:]
        switch mediaType {
        case MediaType.ociIndex, MediaType.dockerManifestList:
            if hasLayers || r.member(json, "config") != nil {
                throw r.fail("", "an index (\(mediaType)) has no config or layers")
            }
            var manifests: [Descriptor] = []
            for (i, entry) in try r.array(r.required(json, "manifests", ""), "manifests").enumerated() {
                manifests.append(try r.descriptor(entry, "manifests[\(i)]", platform: true))
            }
            return .index(ManifestIndex(mediaType: mediaType, manifests: manifests, annotations: annotations))
        case MediaType.ociManifest, MediaType.dockerManifest:
            let config = try r.descriptor(r.required(json, "config", ""), "config", platform: false)
            guard config.mediaType == MediaType.ociConfig || config.mediaType == MediaType.dockerConfig else {
                throw r.fail("config.mediaType", "unsupported config media type \"\(config.mediaType)\"")
            }
            var layers: [Descriptor] = []
            for (i, entry) in (try r.optionalArray(json, "layers", "") ?? []).enumerated() {
                let layer = try r.descriptor(entry, "layers[\(i)]", platform: false)
                guard MediaType.layerCompression(layer.mediaType) != nil else {
                    throw r.fail("layers[\(i)].mediaType", "unsupported layer media type \"\(layer.mediaType)\"")
                }
                layers.append(layer)
            }
            return .image(ImageManifest(mediaType: mediaType, config: config, layers: layers, annotations: annotations))
        default:
            throw r.fail("", "unsupported media type \"\(mediaType)\"")
        }
    }

    static let schema1Error = ImageError(
        .invalidArgument,
        "manifest: Docker image manifest schema version 1 is not supported; the image must be pushed again with a current client")

    static func isSchema1(_ mediaType: String) -> Bool {
        mediaType == "application/vnd.docker.distribution.manifest.v1+json"
            || mediaType == "application/vnd.docker.distribution.manifest.v1+prettyjws"
    }

    /// The media type of a Content-Type header without parameters, or nil for a generic one.
    static func specificMediaType(_ contentType: String) -> String? {
        var type = Substring(contentType)
        if let semicolon = type.firstIndex(of: ";") { type = type[..<semicolon] }
        let trimmed = String(type.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()).lowercased()
        switch trimmed {
        case "", "application/json", "application/octet-stream", "text/plain": return nil
        default: return trimmed
        }
    }
}

extension FieldReader {
    func descriptor(_ json: JSON, _ path: String, platform: Bool) throws(ImageError) -> Descriptor {
        _ = try object(json, path)
        let mediaType = try string(required(json, "mediaType", path), path + ".mediaType")
        let digest = try self.digest(required(json, "digest", path), path + ".digest")
        let size = try self.size(required(json, "size", path), path + ".size")
        var descriptor = Descriptor(
            mediaType: mediaType, digest: digest, size: size,
            urls: try optionalStrings(json, "urls", path) ?? [],
            annotations: try optionalStringMap(json, "annotations", path) ?? [:])
        if platform, let value = member(json, "platform") {
            let p = path + ".platform"
            _ = try object(value, p)
            descriptor.platform = Descriptor.Platform(
                os: try string(required(value, "os", p), p + ".os"),
                architecture: try string(required(value, "architecture", p), p + ".architecture"),
                variant: try optionalString(value, "variant", p) ?? "",
                osVersion: try optionalString(value, "os.version", p) ?? "",
                osFeatures: try optionalStrings(value, "os.features", p) ?? [])
        }
        return descriptor
    }
}

// MARK: - Platform selection

extension ManifestIndex {
    /// The annotation BuildKit puts on the attestation entries (`unknown/unknown`) of an index.
    static let referenceTypeAnnotation = "vnd.docker.reference.type"

    /// The manifest for `platform`, chosen as Docker (through containerd's platform matcher)
    /// chooses: the same OS; the same architecture with the wanted variant, else an older
    /// compatible one (amd64 v4 down to v1; arm64 v8.x down to v8, v9.x down to v8; arm v8 down to v5),
    /// else an architecture the CPU also runs (386 on amd64, 32-bit arm on arm64). Attestation
    /// entries and entries without a platform are never chosen; on a tie the first entry wins.
    public func select(_ platform: Descriptor.Platform) throws(ImageError) -> Descriptor {
        let wanted = platform.normalized
        let candidates = wanted.compatible
        var best: (rank: Int, descriptor: Descriptor)?
        for entry in manifests {
            guard entry.mediaType == MediaType.ociManifest || entry.mediaType == MediaType.dockerManifest,
                  entry.annotations[ManifestIndex.referenceTypeAnnotation] != "attestation-manifest",
                  let entryPlatform = entry.platform?.normalized,
                  entryPlatform.os != "unknown", entryPlatform.architecture != "unknown",
                  entryPlatform.os == wanted.os,
                  let rank = candidates.firstIndex(where: {
                      $0.architecture == entryPlatform.architecture && $0.variant == entryPlatform.variant
                  })
            else { continue }
            if best == nil || rank < best!.rank { best = (rank, entry) }
        }
        guard let best else {
            throw ImageError(.notFound, "no matching manifest for \(wanted) in the manifest list entries")
        }
        return best.descriptor
    }
}

extension Descriptor.Platform {
    /// Names as containerd normalizes them (`x86_64` is amd64, `aarch64` is arm64), with the
    /// default variants written out: amd64 has none for v1, arm64 is v8, arm is v7.
    public var normalized: Descriptor.Platform {
        var p = self
        p.os = os.lowercased()
        let arch = architecture.lowercased()
        var variant = self.variant.lowercased()
        if !variant.isEmpty, !variant.hasPrefix("v") { variant = "v" + variant }
        switch arch {
        case "x86_64", "x86-64", "amd64":
            p.architecture = "amd64"
            p.variant = variant == "v1" ? "" : variant
        case "i386", "i486", "i586", "i686", "386":
            p.architecture = "386"
            p.variant = variant
        case "aarch64", "arm64":
            p.architecture = "arm64"
            p.variant = (variant.isEmpty || variant == "v8.0") ? "v8" : variant
        case "armhf":
            p.architecture = "arm"
            p.variant = "v7"
        case "armel":
            p.architecture = "arm"
            p.variant = "v6"
        case "arm":
            p.architecture = "arm"
            p.variant = variant.isEmpty ? "v7" : variant
        default:
            p.architecture = arch
            p.variant = variant
        }
        return p
    }

    /// The (architecture, variant) pairs a normalized platform runs, best first.
    var compatible: [(architecture: String, variant: String)] {
        func arm(from version: Int) -> [(architecture: String, variant: String)] {
            stride(from: min(version, 8), through: 5, by: -1).map { ("arm", "v\($0)") }
        }
        switch architecture {
        case "amd64":
            let level = variant.isEmpty ? 1 : Descriptor.Platform.version(variant)?.major ?? 0
            guard (1...4).contains(level) else { return [(architecture, variant)] }
            return stride(from: level, through: 1, by: -1).map { ("amd64", $0 == 1 ? "" : "v\($0)") }
                + [("386", "")]
        case "arm64":
            guard let wanted = Descriptor.Platform.version(variant), wanted.major >= 8 else {
                return [(architecture, variant)]
            }
            // As containerd: v8.x runs v8.x down to v8.0; v9.x runs v9.x down to v9.0 and then
            // v8.(x+5) down to v8.0 (v9.0 has the features of v8.5). Newest first.
            guard wanted.major <= 9 else { return [(architecture, variant)] }
            func name(_ major: Int, _ minor: Int) -> String { minor == 0 ? "v\(major)" : "v\(major).\(minor)" }
            var result = stride(from: wanted.minor, through: 0, by: -1).map { ("arm64", name(wanted.major, $0)) }
            if wanted.major == 9 {
                result += stride(from: min(wanted.minor + 5, 9), through: 0, by: -1).map { ("arm64", name(8, $0)) }
            }
            return result + arm(from: 8)
        case "arm":
            guard let wanted = Descriptor.Platform.version(variant), wanted.minor == 0, (5...8).contains(wanted.major) else {
                return [(architecture, variant)]
            }
            return arm(from: wanted.major)
        default:
            return [(architecture, variant)]
        }
    }

    /// "v8" is (8, 0), "v8.2" is (8, 2); nil for anything else.
    static func version(_ variant: String) -> (major: Int, minor: Int)? {
        guard variant.hasPrefix("v") else { return nil }
        let parts = variant.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let major = Int(parts[0]), major >= 0 else { return nil }
        if parts.count == 2 {
            guard let minor = Int(parts[1]), (0...9).contains(minor) else { return nil }
            return (major, minor)
        }
        return (major, 0)
    }
}
