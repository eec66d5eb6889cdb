import Config
import Images
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The engine's side of moving images in and out: the image worker (`skiff-image`) started for
/// a pull, an import, a load or a push, which local images a push sends, and what a save writes.
/// `ImageHandlers+Transfer.swift` decodes the requests and relays the worker and the archive.
extension Engine {
    // MARK: - the image worker

    /// Pulls `reference` (`platform`: `os/arch[/variant]`, else this machine's) with the
    /// registry's settings and the client's credentials (`X-Registry-Auth`, as sent), stored as
    /// `name` (a mirror's or a rewritten location's reference is pulled under the name asked).
    func startPull(_ reference: Reference, name: Reference? = nil, shortNames: ShortNames, platform: String?,
                   auth: String) throws -> ImageWorker {
        var arguments = ["--reference", reference.description]
        if let name, name != reference { arguments += ["--name", name.description] }
        return try ImageWorker(engine: self, command: "pull",
                        arguments: arguments
                            + Engine.registryArguments(reference.domain, shortNames) + (platform.map { ["--platform", $0] } ?? []),
                        environment: ["SKIFF_REGISTRY_AUTH": auth])
    }

    /// Imports the rootfs tarball `body` as an image, named `tag` (normalized) if given, with
    /// Dockerfile `changes` applied to its config and a history `message`.
    func startImport(_ body: SpooledBody, tag: String?, changes: [String], message: String?) throws -> ImageWorker {
        var arguments: [String] = []
        if let tag { arguments += ["--tag", tag] }
        for change in changes { arguments += ["--change", change] }
        if let message { arguments += ["--message", message] }
        return try ImageWorker(engine: self, command: "import", arguments: arguments, input: body)
    }

    /// Loads the image archive `body` (docker save, OCI layout); `quiet`: no progress.
    func startLoad(_ body: SpooledBody, quiet: Bool) throws -> ImageWorker {
        try ImageWorker(engine: self, command: "load", arguments: quiet ? ["--quiet"] : [], input: body)
    }

    /// Pushes the local image `imageID` as `reference`, with the registry's settings and the
    /// client's credentials.
    func startPush(imageID: String, as reference: Reference, shortNames: ShortNames, auth: String) throws -> ImageWorker {
        try ImageWorker(engine: self, command: "push",
                        arguments: ["--image", imageID, "--reference", reference.normalized]
                            + Engine.registryArguments(reference.domain, shortNames),
                        environment: ["SKIFF_REGISTRY_AUTH": auth])
    }

    /// `--insecure` for registries registries.conf marks insecure and loopback ones (as Docker
    /// treats 127.0.0.0/8), `--cert-dir` when a certs.d directory exists for the host,
    /// `--timeout` from SKIFF_REGISTRY_TIMEOUT.
    static func registryArguments(_ domain: String, _ shortNames: ShortNames) -> [String] {
        var arguments: [String] = []
        if shortNames.isInsecure(domain) || ShortNames.isLoopback(domain) { arguments.append("--insecure") }
        let environment = ConfigEnvironment.current()
        var directories: [String] = []
        if !environment.isRoot {
            directories.append((environment.variable("XDG_CONFIG_HOME") ?? environment.home + "/.config") + "/containers/certs.d")
        }
        directories += ["/etc/containers/certs.d", "/etc/docker/certs.d"]
        for directory in directories where access(directory + "/" + domain, R_OK | X_OK) == 0 {
            arguments += ["--cert-dir", directory + "/" + domain]
            break
        }
        if let timeout = environment.variable("SKIFF_REGISTRY_TIMEOUT"), Int(timeout) != nil {
            arguments += ["--timeout", timeout]
        }
        return arguments
    }


    // MARK: - push, save

    /// The images a push of `wanted` sends, each with the reference to push it as: the one
    /// tagged (or pinned) image, or with no tag every tag of the repository, as the API does.
    func imagesToPush(_ wanted: Reference) throws -> [(id: String, reference: Reference)] {
        var targets: [(id: String, reference: Reference)] = []
        try withStore { store in
            if wanted.tag != nil || wanted.digest != nil {
                guard let image = try store.image(byNameOrID: wanted.normalized, normalizedName: wanted.normalized) else {
                    throw EngineError(.notFound, "An image does not exist locally with the tag: \(wanted.familiarString)")
                }
                targets.append((image.id, wanted))
            } else {
                // No tag: every tag of the repository, as the API does.
                for image in try store.images() {
                    for tagged in image.names where tagged.hasPrefix(wanted.name + ":") {
                        if let parsed = try? Reference(parsing: tagged) { targets.append((image.id, parsed)) }
                    }
                }
                guard !targets.isEmpty else {
                    throw EngineError(.notFound, "An image does not exist locally with the tag: \(wanted.familiarName)")
                }
            }
        }
        return targets
    }

    /// `docker save`: each named image (a bare repository: every tag it has) once, with the
    /// tags to record and its layer blobs as pulled or loaded, for Docker 25's archive layout.
    func imagesToSave(_ names: [String]) throws -> [SaveImage] {
        let blobs = BlobStore(root: config.skiffRoot)
        var images: [SaveImage] = []
        try withStore { store in
            var byID: [String: Int] = [:]
            var wanted: [(image: ImageRecord, tags: [String])] = []
            // Every image, read only when a name is a bare repository.
            var all: [ImageRecord]?
            for name in names {
                // A repository without tag or digest: every tag it has, as `docker save busybox` does.
                if let parsed = try? Reference(parsing: name), parsed.tag == nil, parsed.digest == nil {
                    if all == nil { all = try store.images() }
                    let tagged = all!.compactMap { image -> (ImageRecord, [String])? in
                        let tags = image.names.filter { $0.hasPrefix(parsed.name + ":") }
                        return tags.isEmpty ? nil : (image, tags.map(LocalImages.familiar))
                    }
                    if !tagged.isEmpty {
                        wanted += tagged.map { (image: $0.0, tags: $0.1) }
                        continue
                    }
                }
                let (image, reference) = try LocalImages.find(name, store)
                wanted.append((image, reference.map { $0.contains("@") ? [] : [LocalImages.familiar($0)] } ?? []))
            }
            for (image, tags) in wanted {
                if let index = byID[image.id] {
                    images[index].repoTags += tags.filter { !images[index].repoTags.contains($0) }
                    continue
                }
                guard let config = LocalImages.config(of: image) else {
                    throw EngineError(.internal, "image \(image.id): unreadable config")
                }
                var layers: [SaveImage.Layer] = []
                for diffID in config.rootfs.diffIDs {
                    guard let blob = try store.layerBlobs(diffID: diffID.description).first(where: {
                        (try? Digest(parsing: $0.digest)).map(blobs.contains) ?? false
                    }), let digest = try? Digest(parsing: blob.digest) else {
                        throw EngineError(.internal, "image \(image.id): layer \(diffID) has no blob to save")
                    }
                    layers.append(SaveImage.Layer(digest: digest, size: blob.size, path: blobs.path(of: digest),
                                                  compression: MediaType.layerCompression(blob.mediaType) ?? .none))
                }
                byID[image.id] = images.count
                images.append(SaveImage(config: image.config, layers: layers, repoTags: tags))
            }
        }
        return images
    }
}
