import Images
import Platform
import Store

/// A metadata-only step (ENV, LABEL, CMD, WORKDIR...) made in the service: the parent's layers
/// as they are, its config replaced, one `empty_layer` history entry, and the image recorded in
/// the store. Nothing is unpacked or archived, so no image worker (a process, and in a rootless
/// service a user namespace) is needed for it; `build-step` makes the steps that add a layer.
extension Builder {
    /// The new image's id (the same image `skiff-image build-step` without a layer makes).
    func commitMetadata(createdBy: String) throws -> String {
        var image: ImageConfig
        var layers: [String] = []
        var size: Int64 = 0
        if let parentID = imageID {
            guard let parent = try engine.withStore({ try $0.image(byNameOrID: parentID) }) else {
                throw EngineError(.notFound, "build step \(step): No such image: \(parentID)")
            }
            do {
                image = try ImageConfig.read(parent.config)
            } catch {
                throw EngineError(.internal, "build step \(step): the config of image \(parentID): \(error.message)")
            }
            layers = parent.layers
            size = parent.size
            if image.history.isEmpty && !image.rootfs.diffIDs.isEmpty {
                image.history = image.rootfs.diffIDs.map { _ in ImageConfig.History() }
            }
        } else {
            image = ImageConfig(architecture: Descriptor.Platform.hostArchitecture, os: "linux",
                                rootfs: ImageConfig.RootFS(diffIDs: []))
        }
        let now = Timestamp.now()
        let created = Timestamp.rfc3339Nano(now, utc: true)
        image.config = config
        image.created = created
        image.history.append(ImageConfig.History(created: created, createdBy: createdBy, emptyLayer: true))
        let bytes = image.bytes
        let id = Digest.sha256(of: bytes).description
        do {
            try engine.withStore { store in
                _ = try store.addImage(id: id, config: bytes, size: size, created: Int64(now.tv_sec), layers: layers)
            }
        } catch {
            throw EngineError(.internal, "build step \(step): recording image \(Builder.short(id)): \(error)")
        }
        return id
    }
}
