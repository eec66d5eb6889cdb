import Images
import Platform
import Store

/// `GET /system/df` as an engine operation (docs/volumes.md, "System"): what moby's
/// `SystemDiskUsage` counts, for the kinds asked.
extension Engine {
    /// An image with the counts `system df` adds to its summary.
    struct ImageUsage {
        var image: ImageRecord
        var tags: [String]
        var config: ImageConfig?
        /// Containers made from it.
        var containers: Int
        /// Bytes of its layers that another image uses too.
        var sharedSize: Int64
    }

    /// The top-level images with their container counts and shared sizes, and the bytes of all
    /// layers (each once): moby's `LayersSize`.
    func imageDiskUsage() throws -> (images: [ImageUsage], layersSize: Int64) {
        let listed = try listImages(all: false, filters: try Filters(nil, allowed: []))
        return try withStore { store in
            let all = try store.images(all: true)
            var users: [String: Int] = [:]
            for image in all { for layer in Set(image.layers) { users[layer, default: 0] += 1 } }
            var sizes: [String: Int64] = [:]
            for layer in users.keys { sizes[layer] = try store.layer(chainID: layer)?.size ?? 0 }
            var containers: [String: Int] = [:]
            for record in try store.containers(withConfig: false) { containers[record.imageID, default: 0] += 1 }
            let images = listed.map { item in
                let shared = Set(item.image.layers).filter { (users[$0] ?? 0) > 1 }.reduce(Int64(0)) { $0 + (sizes[$1] ?? 0) }
                return ImageUsage(image: item.image, tags: item.tags, config: item.config,
                                  containers: containers[item.image.id] ?? 0, sharedSize: shared)
            }
            return (images, sizes.values.reduce(0, +))
        }
    }

    /// Every volume with its reference count and the bytes its data takes.
    func volumeDiskUsage() throws -> [(entry: VolumeEntry, size: Int64)] {
        try listVolumes().map { entry in
            // A volume mounted from driver options keeps nothing in its directory: moby counts -1
            // for a volume it cannot size.
            let mounted = (try? LocalVolumeOptions(entry.record.options ?? [:]))?.needsMount ?? false
            return (entry, mounted ? -1 : VolumeUsage.size(of: volumeMountpoint(entry.record.name)))
        }
    }
}
