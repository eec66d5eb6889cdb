import CLinux
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The container file verbs: `docker cp` both ways, `docker export`. The worker runs them
/// inside the user's namespace (rootless: `--userns`), where it may read and write files of
/// every id the container uses; nothing from the container is ever executed, and every path is
/// resolved inside the container's root (`ScopedRoot`).
///
/// ```
/// skiff-image [--userns] archive-stat --root DIR --container ID [--root-fd 4] --path P
/// skiff-image [--userns] archive-get  --root DIR --container ID [--root-fd 4] --path P
/// skiff-image [--userns] archive-put  --root DIR --container ID [--root-fd 4] --path P
///                                     [--no-overwrite-dir-non-dir] [--chown-user USER] [--make-path]
/// skiff-image [--userns] export       --root DIR --container ID [--root-fd 4]
/// ```
/// The container's root is descriptor 4 when `--root-fd 4` is given: the service opened
/// `/proc/<pid>/root` of the running container (`O_PATH`; the mounts the container sees,
/// volumes included). Without it the container is stopped: the worker mounts the overlay its
/// `config.json` describes on `containers/ID/rootfs`, in a mount namespace of its own (gone
/// when it exits). `archive-stat` writes the path's stat (`ContainerPathStat` JSON) as one
/// line; `archive-get` writes that line, then the tar; `archive-put` reads the tar (plain,
/// gzip or zstd, decompressed here, bounded by `--max-layer-size`) from standard input (a
/// pipe the service feeds while the body arrives);
/// `export` writes the tar of the whole root. Failures are `WorkerFailure`s: `.notFound` for
/// a missing path (the service words it as Docker does), `.invalidArgument` for a bad path or
/// extraction point, `.failed` for an archive that cannot be applied.
enum ContainerArchive {
    static let commands: Set<String> = ["archive-stat", "archive-get", "archive-put", "export", "changes"]

    static func run(_ options: Options) throws {
        if options.command == "changes" { return try ContainerChanges.run(options) }
        let root = try openRoot(options)
        switch options.command {
        case "archive-stat":
            let (_, stat) = try ContainerPathStat.resolve(try options.required("--path"), in: root)
            Output.writeAll(1, stat.json.bytes + [0x0A])
        case "archive-get":
            let path = try options.required("--path")
            let (location, stat) = try ContainerPathStat.resolve(path, in: root)
            Output.writeAll(1, stat.json.bytes + [0x0A])
            try TreeArchiver(sink: FileByteSink(fd: 1, name: "standard output")).archive(location, as: stat.name)
        case "archive-put":
            try put(options, root)
        case "export":
            let location = try root.resolve("/", followLast: true)
            let archiver = TreeArchiver(sink: FileByteSink(fd: 1, name: "standard output"),
                                        options: .init(contentOfOtherMounts: false))
            try archiver.exportRoot(location)
        default:
            throw WorkerFailure(.invalidArgument, "skiff-image: unknown command '\(options.command)'")
        }
    }

    /// `PUT /containers/{id}/archive`: the path is resolved fully (moby's GetResourcePath) and
    /// must be a directory; the archive is applied there by `LayerApplier` in copy mode.
    static func put(_ options: Options, _ root: ScopedRoot) throws {
        let path = try options.required("--path")
        var owner: (uid: Int, gid: Int)?
        if let user = options.value("--chown-user"), !user.isEmpty {
            owner = try ContainerUsers(root: root).resolve(user)
        }
        // `--make-path` (docker build's COPY): the directories on the way are made, inside the
        // root, owned by `--chown-user` when given (moby's MkdirAllAndChownNew).
        let location = options.flag("--make-path")
            ? try makePath(ContainerPathStat.absolute(path), owner: owner, in: root)
            : try root.resolve(ContainerPathStat.absolute(path), followLast: true)
        guard try location.lstat().st_mode & S_IFMT == S_IFDIR else {
            throw WorkerFailure(.invalidArgument, "extraction point is not a directory")
        }
        let directory = try location.open(SKIFF_O_PATH_FLAG | O_DIRECTORY)
        defer { close(directory) }
        // Standard input is a pipe the service feeds as the body arrives: its magic number is
        // read ahead and given again. An empty body is an empty archive (moby's Untar reads EOF
        // as the end).
        let limit = Int(options.value("--max-layer-size") ?? "") ?? Worker.defaultLayerLimit
        let body: PeekedSource
        do {
            body = try PeekedSource(FileByteSource(fd: 0, name: "the request body"), count: 4)
        } catch {
            throw WorkerFailure(.failed, "Error processing tar file: \(error.message)")
        }
        if body.peeked.isEmpty { return }
        let compression = LayerStream.sniff(body.peeked)
        let rootless = getuid() != 0 || getenv(WorkerNamespace.variable) != nil
        let applierOptions = LayerApplier.Options(
            mode: .copy(noOverwriteDirNonDir: options.flag("--no-overwrite-dir-non-dir"), destination: location.path),
            tolerateEPERM: rootless && WorkerNamespace.isSingleMapping, owner: owner)
        do {
            let source = try LayerStream.decompressed(body, compression, limit: limit)
            try LayerApplier(directory: directory, name: location.path, options: applierOptions).apply(TarReader(source: source))
        } catch {
            // What the archive asks for is the client's to fix (400); the disk's or the
            // kernel's failure is ours (500). moby answers 500 to both.
            throw WorkerFailure(error.code == .io ? .failed : .invalidArgument, "Error processing tar file: \(error.message)")
        }
    }

    /// `path` resolved inside the root, its missing directories made (`mountPoint`) and, with
    /// `owner`, given to it.
    static func makePath(_ path: String, owner: (uid: Int, gid: Int)?, in root: ScopedRoot) throws -> ScopedRoot.Location {
        let components = ScopedRoot.components(path)
        var missing: [String] = []
        for count in components.indices.map({ $0 + 1 }) {
            let prefix = "/" + components.prefix(count).joined(separator: "/")
            if try present(prefix, in: root) == nil { missing.append(prefix) }
        }
        let location = try mountPoint(path, directory: true, in: root)
        if let owner {
            for prefix in missing {
                let made = try root.resolve(prefix, followLast: false)
                let fd = try made.open(O_RDONLY | O_DIRECTORY)
                defer { close(fd) }
                guard fchown(fd, uid_t(owner.uid), gid_t(owner.gid)) == 0 else {
                    throw WorkerFailure(.failed, "chown \(prefix) to \(owner.uid):\(owner.gid): \(String(cString: strerror(errno)))")
                }
            }
        }
        return location
    }

    /// The container's root: descriptor `--root-fd`, or its overlay mounted here.
    static func openRoot(_ options: Options) throws -> ScopedRoot {
        if let text = options.value("--root-fd") {
            guard let fd = Int32(text), fd > 2 else { throw WorkerFailure(.invalidArgument, "skiff-image: bad --root-fd \(text)") }
            var info = stat()
            guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw WorkerFailure(.invalidArgument, "skiff-image: --root-fd \(fd) is not an open directory")
            }
            return ScopedRoot(fd: fd)
        }
        let skiffRoot = try options.required("--root")
        let id = try options.required("--container")
        guard skiffRoot.hasPrefix("/"), Store.isContainerID(id) else {
            throw WorkerFailure(.invalidArgument, "skiff-image: --root must be absolute and --container a container id (64 hex digits)")
        }
        let bundle = skiffRoot + "/containers/" + id
        let data = try overlayData(bundle)
        guard skiff_private_mount_namespace() == 0 else {
            throw WorkerFailure(.failed, "container \(id): unshare a mount namespace: \(String(cString: strerror(errno)))")
        }
        guard skiff_mount_overlay(bundle + "/rootfs", data) == 0 else {
            // Its directories gone: removed meanwhile.
            throw WorkerFailure(errno == ENOENT ? .conflict : .failed,
                                "container \(id): mount its overlay on \(bundle)/rootfs: \(String(cString: strerror(errno)))")
        }
        let fd = open(bundle + "/rootfs", SKIFF_O_PATH_FLAG | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw WorkerFailure(.failed, "container \(id): open its root: \(String(cString: strerror(errno)))") }
        let root = ScopedRoot(fd: fd)
        // `docker cp` sees a stopped container's volumes and binds as a running one does (moby
        // mounts them for the copy); export and diff are of the container's own files only.
        if options.command.hasPrefix("archive-") { try mountVolumes(bundle, id: id, in: root) }
        return root
    }

    /// Bind-mounts, in this worker's mount namespace, the container's volumes and binds from
    /// its `config.json` on their destinations, each resolved inside the root (a symlink in the
    /// container cannot send a mount outside it), read-only where the container has them so.
    /// The files the runtime gives every container (hostname, hosts, resolv.conf, from the
    /// bundle) are not mounted: a stopped container's copy shows its own. A destination the
    /// container's files do not have yet (never started) is made, as moby makes it.
    static func mountVolumes(_ bundle: String, id: String, in root: ScopedRoot) throws {
        guard let bytes = try? FileSystem.readFile(bundle + "/config.json"), let spec = try? JSONParser.parse(bytes),
              case .array(let mounts)? = spec["mounts"] else { return }
        for mount in mounts {
            guard case .string("bind")? = mount["type"], case .string(let source)? = mount["source"],
                  case .string(let destination)? = mount["destination"], destination != "/",
                  !source.hasPrefix(bundle + "/") else { continue }
            var options: [String] = []
            if case .array(let items)? = mount["options"] {
                options = items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
            }
            var info = stat()
            guard stat(source, &info) == 0 else {
                throw WorkerFailure(.failed, "container \(id): the source of \(destination), \(source): \(String(cString: strerror(errno)))")
            }
            let target = try mountPoint(destination, directory: info.st_mode & S_IFMT == S_IFDIR, in: root)
            let targetFD = try target.open(SKIFF_O_PATH_FLAG)
            defer { close(targetFD) }
            guard skiff_bind_mount_at(source, targetFD) == 0 else {
                throw WorkerFailure(.failed, "container \(id): mount \(source) on \(destination): \(String(cString: strerror(errno)))")
            }
            guard options.contains("ro") else { continue }
            let mounted = try root.resolve(destination, followLast: true).open(SKIFF_O_PATH_FLAG)
            defer { close(mounted) }
            guard skiff_remount_readonly_at(mounted) == 0 else {
                throw WorkerFailure(.failed, "container \(id): make \(destination) read-only: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The mount point `path` resolved inside the root, made first (directories on the way, and
    /// the last one a directory or an empty file like the source) where it is not there.
    static func mountPoint(_ path: String, directory: Bool, in root: ScopedRoot) throws -> ScopedRoot.Location {
        if let found = try present(path, in: root) { return found }
        let components = ScopedRoot.components(path)
        for count in components.indices.map({ $0 + 1 }) {
            let prefix = "/" + components.prefix(count).joined(separator: "/")
            if try present(prefix, in: root) != nil { continue }
            let parent = try root.resolve("/" + components.prefix(count - 1).joined(separator: "/"), followLast: true)
            let parentFD = try parent.open(O_RDONLY | O_DIRECTORY)
            defer { close(parentFD) }
            let name = components[count - 1]
            if count < components.count || directory {
                guard mkdirat(parentFD, name, 0o755) == 0 || errno == EEXIST else {
                    throw WorkerFailure(.failed, "make the mount point \(prefix): \(String(cString: strerror(errno)))")
                }
            } else {
                let fd = openat(parentFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                guard fd >= 0 || errno == EEXIST else {
                    throw WorkerFailure(.failed, "make the mount point \(prefix): \(String(cString: strerror(errno)))")
                }
                if fd >= 0 { close(fd) }
            }
        }
        return try root.resolve(path, followLast: true)
    }

    /// The destination resolved inside the root; nil when it is not there.
    static func present(_ path: String, in root: ScopedRoot) throws -> ScopedRoot.Location? {
        let result: Result<ScopedRoot.Location, ImageError>
        do {
            result = .success(try root.resolve(path, followLast: true))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let location): return location
        case .failure(let error) where error.code == .notFound: return nil
        case .failure(let error): throw error
        }
    }

    /// The options of the overlay config.json mounts on "/" (the container's root), with
    /// `userxattr` in a user namespace, as the runtime mounts it.
    static func overlayData(_ bundle: String) throws -> String {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(bundle + "/config.json")
        } catch {
            throw WorkerFailure(.conflict, "container \(bundle.split(separator: "/").last ?? "") is being removed: read its config.json: \(error)")
        }
        guard let spec = try? JSONParser.parse(bytes), case .array(let mounts)? = spec["mounts"] else {
            throw WorkerFailure(.failed, "\(bundle)/config.json: no mounts")
        }
        for mount in mounts {
            guard case .string("/")? = mount["destination"], case .string("overlay")? = mount["type"],
                  case .array(let items)? = mount["options"] else { continue }
            var options: [String] = items.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
            // A second mount of the upper directory needs no volatile marker of its own.
            options.removeAll { $0 == "volatile" }
            let rootless = getuid() != 0 || getenv(WorkerNamespace.variable) != nil
            if rootless && !options.contains("userxattr") { options.append("userxattr") }
            return options.joined(separator: ",")
        }
        throw WorkerFailure(.failed, "\(bundle)/config.json: no overlay root (a rootfs of another kind is not supported)")
    }
}

extension TreeArchiver {
    /// `docker export`: the root's entries without the root itself and without a leading `/`
    /// (`bin/`, `bin/sh`, ...), as moby's export writes them.
    func exportRoot(_ root: ScopedRoot.Location) throws(ImageError) {
        let directory = try root.open(O_RDONLY | O_DIRECTORY)
        defer { close(directory) }
        try archiveChildren(of: directory)
    }
}
