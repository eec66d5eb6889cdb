import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `docker commit` (`skiff-image [--userns] commit --root DIR --container ID --image PARENT
/// --container-config JSON [--request-config JSON] [--tag NAME] [--author A] [--message M] [--created-by TEXT]
/// [--change LINE]...`): the container's overlay upper directory becomes one more layer on its
/// image's. The layer is a tar of the upper directory (whiteouts as `.wh.` entries, opaque
/// directories as `.wh..wh..opq`, the runtime's empty mount points left out) kept as an
/// uncompressed blob, so its digest is its diff id; the config is the image's with the request's
/// `Config` (`--request-config`) with the `--change` lines applied and what they leave unset taken
/// from the container's `Config` (moby's merge), the author, a history entry and the new diff id. The image is then installed as a pulled or loaded one is (`Worker.install`), so
/// `docker save` and `docker push` read it as any other. Standard output is one JSON line
/// `{"Id": "sha256:..."}`.
enum ContainerCommit {
    /// The instructions moby's commit accepts (`validCommitCommands`, all of which ImageChanges
    /// applies); another is refused here with the words moby's commit uses (its lower-cased name).
    static let accepted: Set<String> = ["cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild",
                                        "stopsignal", "user", "volume", "workdir"]

    static func run(_ worker: Worker) throws {
        let options = worker.options
        // moby's order: the request's config (`--request-config`, the body of POST /commit), the
        // changes applied to it, then what is still unset taken from the container's.
        var requested = try config(options, "--request-config") ?? ImageConfig.Container()
        for change in options.all("--change") {
            let keyword = change.trimmingPrefixWhitespace.prefix { $0 != " " && $0 != "\t" }.lowercased()
            guard keyword.isEmpty || accepted.contains(keyword) else {
                throw WorkerFailure(.invalidArgument, "\(keyword) is not a valid change command")
            }
        }
        try ImageChanges.apply(options.all("--change"), to: &requested)
        let container = requested.completed(from: try config(options, "--container-config") ?? ImageConfig.Container())
        let parentID = try options.required("--image")
        guard let parent = try worker.store.image(byNameOrID: parentID) else {
            throw WorkerFailure(.notFound, "No such image: \(parentID)")
        }
        var config = try ImageConfig.read(parent.config)
        var sources: [Worker.LayerSource] = []
        for diffID in config.rootfs.diffIDs {
            guard let record = try worker.store.layerBlobs(diffID: diffID.description).first else {
                throw WorkerFailure(.failed, "image \(parentID): no blob recorded for its layer \(diffID)")
            }
            let mediaType = record.mediaType
            sources.append(Worker.LayerSource(digest: try Digest(parsing: record.digest), mediaType: mediaType,
                                              compression: MediaType.layerCompression(mediaType) ?? .none))
        }
        let blob = try layer(worker, options)
        let now = Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
        let author = options.value("--author").flatMap { $0.isEmpty ? nil : $0 }
        config.config = container
        config.created = now
        config.author = author
        config.rootfs.diffIDs.append(blob)
        if config.history.isEmpty && !sources.isEmpty {
            config.history = sources.map { _ in ImageConfig.History() }
        }
        config.history.append(ImageConfig.History(created: now, createdBy: options.value("--created-by"), author: author,
                                                  comment: options.value("--message").flatMap { $0.isEmpty ? nil : $0 }))
        sources.append(Worker.LayerSource(digest: blob, mediaType: MediaType.ociLayer, compression: .none))
        let names = options.value("--tag").map { [$0] } ?? []
        do {
            try worker.install(config: config.bytes, layers: sources, names: names, digests: [])
        } catch {
            if (try? worker.store.layerBlob(digest: blob.description)) == nil { try? worker.blobs.delete(blob) }
            throw error
        }
        Output.message(["Id": .string(config.id.description)])
    }

    /// A container `Config` (Docker's form) given as `option`, read as an image config's
    /// `config`; nil when the option is absent (`--container-config` is always given).
    static func config(_ options: Options, _ option: String) throws -> ImageConfig.Container? {
        guard let text = option == "--container-config" ? try options.required(option) : options.value(option) else {
            return nil
        }
        guard let value = try? JSONParser.parse(Array(text.utf8)) else {
            throw WorkerFailure(.invalidArgument, "skiff-image: \(option) is not JSON")
        }
        guard value != .null else { return nil }
        let probe = JSON.object([JSON.Member("architecture", "amd64"), JSON.Member("os", "linux"), JSON.Member("config", value),
                                 JSON.Member("rootfs", .object([JSON.Member("type", "layers")]))])
        return try ImageConfig.read(probe.bytes).config ?? ImageConfig.Container()
    }

    /// The upper directory as a layer blob; its digest.
    static func layer(_ worker: Worker, _ options: Options) throws -> Digest {
        let (upper, _) = try ContainerChanges.layers(options)
        let upperFD = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard upperFD >= 0 else { throw WorkerFailure(.failed, "open \(upper): \(String(cString: strerror(errno)))") }
        defer { close(upperFD) }
        var excluded: Set<String> = []
        for path in ContainerChanges.mountPoints {
            let components = path.split(separator: "/").map(String.init)
            var fd = upperFD
            var found = true
            for component in components.dropLast() {
                let next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if fd != upperFD { close(fd) }
                guard next >= 0 else { found = false; break }
                fd = next
            }
            guard found else { continue }
            var info = stat()
            if fstatat(fd, components.last!, &info, AT_SYMLINK_NOFOLLOW) == 0
                && ContainerChanges.isPlaceholder(fd, components.last!, info) {
                excluded.insert(path)
            }
            if fd != upperFD { close(fd) }
        }
        let rootless = getuid() != 0 || getenv(WorkerNamespace.variable) != nil
        let writer = try worker.blobs.writer()
        do {
            let archiver = TreeArchiver(sink: writer, options: .init(
                contentOfOtherMounts: true, excluded: excluded,
                overlayOpaqueXattr: rootless ? "user.overlay.opaque" : "trusted.overlay.opaque"))
            try archiver.archiveChildren(of: upperFD)
            return try writer.commit(expected: nil, expectedSize: nil)
        } catch {
            writer.abort()
            throw error
        }
    }
}

extension String {
    var trimmingPrefixWhitespace: Substring { drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" } }
}
