import Platform
import Store

/// The parts of a container's stored config the streaming routes need (the `Config` object of
/// `ContainerRecord.config`, Docker's field names).
struct ContainerSettings: Sendable {
    var tty = false
    var openStdin = false
    var stdinOnce = false
    /// `Config.Image` as the user gave it.
    var image = ""
    var labels: [String: String] = [:]

    init(_ record: ContainerRecord) {
        image = record.imageName
        guard let json = try? JSONParser.parse(record.config), let config = json["Config"] else { return }
        tty = ContainerSettings.bool(config["Tty"])
        openStdin = ContainerSettings.bool(config["OpenStdin"])
        stdinOnce = ContainerSettings.bool(config["StdinOnce"])
        if case .string(let name)? = config["Image"], !name.isEmpty { image = name }
        if case .object(let members)? = config["Labels"] {
            for member in members {
                if case .string(let value) = member.value { labels[member.key] = value }
            }
        }
    }

    private static func bool(_ value: JSON?) -> Bool {
        if case .bool(let b)? = value { return b }
        return false
    }
}

/// Container events as moby records them: the container's labels, `image` (as the user named
/// it) and `name` as attributes, plus the action's own.
enum ContainerEvents {
    struct Actor: Sendable {
        var id: String
        var name: String
        var image: String
        var labels: [String: String]

        init(_ record: ContainerRecord, _ settings: ContainerSettings) {
            id = record.id
            name = record.name
            image = settings.image
            labels = settings.labels
        }

        func attributes(_ extra: [String: String]) -> [String: String] {
            var attributes = labels
            for (key, value) in extra { attributes[key] = value }
            if !image.isEmpty { attributes["image"] = image }
            attributes["name"] = name
            return attributes
        }
    }

    /// Records the event; a failure to record is not the request's failure.
    static func record(_ engine: Engine, _ actor: Actor, action: String, attributes: [String: String] = [:]) {
        _ = try? engine.withStore { store in
            try store.addEvent(type: "container", action: action, actorID: actor.id,
                               attributes: actor.attributes(attributes))
        }
    }
}
