import CLinux
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// A volume's files, where they need the user's namespace (rootless): files of every id the
/// container uses.
///
/// ```
/// skiff-image [--userns] volume-populate --root DIR --container ID --path P --volume NAME
/// skiff-image [--userns] remove-volume   --root DIR NAME
/// ```
/// `volume-populate` is Docker's copy-up: the content the container's image has at `P`
/// (resolved inside the container's root, its overlay mounted here as `archive-get` mounts it)
/// is copied into `DIR/volumes/NAME/_data`, owners, modes, times and xattrs kept, when that
/// directory is empty; a missing `P` or a volume that has files is left as it is. The service
/// runs it once per volume, for the first container created with it (CVE-2020-1726).
enum VolumeFiles {
    static let commands: Set<String> = ["volume-populate", "remove-volume"]

    static func run(_ options: Options) throws {
        let skiffRoot = try options.required("--root")
        guard skiffRoot.hasPrefix("/") else { throw WorkerFailure(.invalidArgument, "skiff-image: --root must be absolute") }
        switch options.command {
        case "remove-volume":
            guard options.positional.count == 1, let name = options.positional.first, isVolumeName(name) else {
                throw WorkerFailure(.invalidArgument, "skiff-image: remove-volume needs one volume name")
            }
            let path = skiffRoot + "/volumes/" + name
            FileSystem.removeTree(path)
            if access(path, F_OK) == 0 {
                throw WorkerFailure(.failed, "remove \(name): some of the files of \(path) could not be removed")
            }
        default:
            try populate(options, skiffRoot: skiffRoot)
        }
    }

    static func isVolumeName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/")
    }

    static func populate(_ options: Options, skiffRoot: String) throws {
        let name = try options.required("--volume")
        guard isVolumeName(name) else { throw WorkerFailure(.invalidArgument, "skiff-image: bad --volume \(name)") }
        let path = try options.required("--path")
        let destination = skiffRoot + "/volumes/" + name + "/_data"
        guard let entries = FileSystem.directoryEntries(destination) else {
            throw WorkerFailure(.failed, "copy to volume \(name): read \(destination): \(String(cString: strerror(errno)))")
        }
        guard entries.isEmpty else { return }
        let root = try ContainerArchive.openRoot(options)
        guard let source = try imageDirectory(path, in: root) else { return }
        defer { close(source) }
        // Two tars over a pipe: the first reads the image's directory through descriptor 3
        // (resolved above, inside the root), the second writes the volume. `.` is in the
        // archive: the volume's directory takes the owner and mode of the image's (moby's
        // copyOwnership).
        let script = #"tar -C /proc/self/fd/3 --xattrs --numeric-owner -cf - . | tar -C "$1" --xattrs --xattrs-include='*' --numeric-owner -xpf -"#
        let devnull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devnull) }
        let pid: pid_t
        do {
            pid = try Spawn.start(["/bin/sh", "-c", script, "sh", destination],
                                  Spawn.Options(descriptors: [devnull, devnull, 2, source]))
        } catch {
            throw WorkerFailure(.failed, "copy \(path) to volume \(name): \(error)")
        }
        guard let status = Spawn.wait(pid), status == 0 else {
            throw WorkerFailure(.failed, "copy \(path) to volume \(name): tar failed")
        }
    }

    /// The directory at `path` in the root, open; nil when there is none (missing, or not a
    /// directory: nothing to copy).
    static func imageDirectory(_ path: String, in root: ScopedRoot) throws -> Int32? {
        do {
            let location = try root.resolve(ContainerPathStat.absolute(path), followLast: true)
            guard try location.lstat().st_mode & S_IFMT == S_IFDIR else { return nil }
            return try location.open(O_RDONLY | O_DIRECTORY)
        } catch {
            if error.code == .notFound { return nil }
            throw error
        }
    }
}
