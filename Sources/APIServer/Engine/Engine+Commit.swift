import Images
import Platform
import Store

/// `docker commit`: the image worker (`skiff-image commit`, `ContainerCommit.swift` there) makes
/// a layer of the container's upper directory and installs the image; a running container is
/// paused meanwhile unless `pause` is false (moby's default is to pause).
extension Engine {
    struct CommitRequest {
        var container: String
        /// Normalized `repo:tag`, or nil for an untagged image.
        var tag: String?
        var author: String?
        var comment: String?
        var changes: [String]
        var pause: Bool
        /// The request body's container `Config` (Docker's form), already decoded once to
        /// check it; nil for an empty body.
        var config: [UInt8]?
    }

    /// Commits; the new image's id.
    func commitContainer(_ request: CommitRequest) throws -> String {
        let record = try currentContainer(request.container)
        let stored = try StoredContainer(record)
        var arguments = ["--container", record.id, "--image", record.imageID,
                         "--container-config", String(decoding: stored.config.bytes, as: UTF8.self),
                         "--created-by", stored.strings(stored.config["Cmd"]).joined(separator: " ")]
        if let config = request.config { arguments += ["--request-config", String(decoding: config, as: UTF8.self)] }
        if let tag = request.tag { arguments += ["--tag", tag] }
        if let author = request.author { arguments += ["--author", author] }
        if let comment = request.comment { arguments += ["--message", comment] }
        for change in request.changes { arguments += ["--change", change] }
        let paused = request.pause && record.state == .running
        if paused { try pauseContainer(id: record.id) }
        defer { if paused { try? unpauseContainer(id: record.id) } }
        let worker = try ImageWorker(engine: self, command: "commit", arguments: arguments)
        let output = worker.readOutput()
        if let error = worker.wait() { throw error }
        guard let json = try? JSONParser.parse(Array(output.prefix { $0 != 0x0A })), case .string(let id)? = json["Id"] else {
            throw EngineError(.internal, "commit \(record.id): the image worker did not name the image")
        }
        // moby's `commit` event: the container's attributes, the comment, the image.
        var attributes = ContainerLifecycle.eventAttributes(record)
        attributes["comment"] = request.comment ?? ""
        attributes["imageID"] = id
        attributes["imageRef"] = request.tag ?? ""
        try? withStore { store in
            _ = try store.addEvent(type: "container", action: "commit", actorID: record.id, attributes: attributes)
        }
        return id
    }
}
