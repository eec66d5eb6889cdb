import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-image [--userns] remove-container --root DIR ID`: removes `DIR/containers/ID`. Run
/// inside the user's namespace (rootless), the sub-id-owned files of its upper/ directory go too;
/// the monitor runs it for `--rm`, the service for `docker rm`.
enum ContainerRemoval {
    static func remove(_ options: Options) throws {
        let root = try options.required("--root")
        guard root.hasPrefix("/") else { throw WorkerFailure(.invalidArgument, "skiff-image: --root must be absolute") }
        guard options.positional.count == 1, let id = options.positional.first, Store.isContainerID(id) else {
            throw WorkerFailure(.invalidArgument, "skiff-image: remove-container needs one container id (64 hex digits)")
        }
        let path = root + "/containers/" + id
        FileSystem.removeTree(path)
        var info = stat()
        if lstat(path, &info) == 0 {
            throw WorkerFailure(.failed, "remove \(path): some of its files could not be removed")
        }
    }
}
