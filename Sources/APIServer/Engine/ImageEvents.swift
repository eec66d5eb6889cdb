import Images
import Platform
import Store

/// Image events as moby records them (`LogImageEvent`): the image's labels and `name` as
/// attributes. The actor and name moby uses differ by action: pull and push name the
/// reference (`busybox:latest`, name `busybox`); tag names the image id and the new tag;
/// untag, delete, load and import name the image id twice.
enum ImageEvents {
    static func record(_ store: Store, _ action: String, actorID: String, name: String, image: ImageRecord?) {
        var attributes = (image.flatMap { LocalImages.config(of: $0) }?.config?.labels) ?? [:]
        if !name.isEmpty { attributes["name"] = name }
        _ = try? store.addEvent(type: "image", action: action, actorID: actorID, attributes: attributes)
    }

    static func record(_ engine: Engine, _ action: String, actorID: String, name: String, image: ImageRecord?) {
        _ = try? engine.withStore { store in record(store, action, actorID: actorID, name: name, image: image) }
    }

    /// `pull` and `push`: actor `busybox:latest`, name `busybox`.
    static func recordReference(_ engine: Engine, _ action: String, _ reference: Reference) {
        _ = try? engine.withStore { store in
            let image = try? store.image(byNameOrID: reference.normalized, normalizedName: reference.normalized)
            record(store, action, actorID: reference.familiarString, name: reference.familiarName, image: image)
        }
    }

    /// `untag` for each name removed, then `delete` when the image went.
    static func recordRemoval(_ store: Store, image: ImageRecord, untagged: Int, deleted: Bool) {
        for _ in 0..<untagged { record(store, "untag", actorID: image.id, name: image.id, image: image) }
        if deleted { record(store, "delete", actorID: image.id, name: image.id, image: image) }
    }

    /// Collects a worker's output (bounded) to find the images it made.
    final class Output: @unchecked Sendable {
        private(set) var bytes: [UInt8] = []
        static let limit = 1 << 20

        func append(_ chunk: UnsafeRawBufferPointer) {
            if bytes.count + chunk.count <= Output.limit { bytes += chunk }
        }

        /// Image ids named by `load` (`Loaded image: <name>`, `Loaded image ID: <id>`) or
        /// `import` (`{"status": "sha256:..."}`) messages.
        func images(_ store: Store) -> [ImageRecord] {
            var result: [ImageRecord] = []
            for line in bytes.split(separator: 0x0A) {
                guard let json = try? JSONParser.parse(Array(line)) else { continue }
                var wanted: String?
                if case .string(let text)? = json["stream"] {
                    let text = text.hasSuffix("\n") ? String(text.dropLast()) : text
                    if text.hasPrefix("Loaded image ID: ") {
                        wanted = String(text.dropFirst("Loaded image ID: ".count))
                    } else if text.hasPrefix("Loaded image: ") {
                        wanted = String(text.dropFirst("Loaded image: ".count))
                    }
                } else if case .string(let status)? = json["status"], status.hasPrefix("sha256:") {
                    wanted = status
                }
                guard let wanted else { continue }
                let normalized = (try? Reference(parsing: wanted))?.withDefaultTag.normalized
                if let image = try? store.image(byNameOrID: wanted, normalizedName: normalized),
                   !result.contains(where: { $0.id == image.id }) {
                    result.append(image)
                }
            }
            return result
        }

        /// Records `action` for each image the output names.
        func record(_ engine: Engine, _ action: String) {
            _ = try? engine.withStore { store in
                for image in images(store) {
                    ImageEvents.record(store, action, actorID: image.id, name: image.id, image: image)
                }
            }
        }
    }
}
