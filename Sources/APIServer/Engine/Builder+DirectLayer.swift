import CLinux
import Dockerfile
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// COPY's layer made from the tar the service writes, without a container: when the step's
/// destination directory is not in the image, nothing the COPY adds is there either, so the
/// layer is that tar under the destination (as onto `scratch`) plus the directories on the
/// way, each with the mode it has in the image (or 0755 when new). Extracting the files into a
/// created container and archiving its upper directory again (two passes over every file, a
/// container and two image workers) makes the same layer. Anything else (the destination
/// there, an ancestor that is not a plain directory of root's, --chown, an archive ADD
/// unpacks, a layer directory that cannot be read) goes through the container.
extension Builder {
    /// The modes of the directories from the image's root to `path` (one per component) when
    /// the layer can be made directly; nil when it cannot.
    func directLayerModes(_ path: String) throws -> [UInt32]? {
        guard let imageID, let record = try engine.withStore({ try $0.image(byNameOrID: imageID) }) else { return nil }
        let components = DockerIgnore.clean(path).split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains("..") else { return nil }
        // Top layer first.
        let layers = record.layers.reversed().map { layer -> String in
            let hex = layer.hasPrefix("sha256:") ? String(layer.dropFirst(7)) : layer
            return engine.config.skiffRoot + "/layers/" + hex + "/diff"
        }
        let owner: (uid: uid_t, gid: gid_t) = engine.isRootless ? (getuid(), getgid()) : (0, 0)
        let opaque = engine.isRootless ? "user.overlay.opaque" : "trusted.overlay.opaque"
        var modes: [UInt32] = []
        // Layers [0, visible) may hold the next component (an opaque directory or a whiteout
        // hides what the layers below it have there).
        var visible = layers.count
        var missing = false
        for index in components.indices {
            if missing {
                modes.append(0o755)
                continue
            }
            let relative = components[...index].joined(separator: "/")
            var found: stat?
            var limit = visible
            for layer in 0..<visible {
                var info = stat()
                if lstat(layers[layer] + "/" + relative, &info) != 0 {
                    guard errno == ENOENT || errno == ENOTDIR else { return nil }
                    continue
                }
                let type = info.st_mode & S_IFMT
                if found == nil {
                    if type == S_IFCHR && info.st_rdev == 0 { break }   // a whiteout: not there
                    guard type == S_IFDIR else { return nil }
                    found = info
                } else if type != S_IFDIR {
                    limit = layer
                    break
                }
                var value: UInt8 = 0
                if skiff_lgetxattr(layers[layer] + "/" + relative, opaque, &value, 1) == 1 && value == UInt8(ascii: "y") {
                    limit = layer + 1
                    break
                }
            }
            guard let info = found else {
                missing = true
                modes.append(0o755)
                continue
            }
            // The destination itself is there: its contents may be overwritten, through the container.
            guard index < components.count - 1, info.st_uid == owner.uid, info.st_gid == owner.gid else { return nil }
            modes.append(UInt32(info.st_mode & 0o7777))
            visible = limit
        }
        return modes
    }
}
