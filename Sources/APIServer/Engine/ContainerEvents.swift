import Platform
import Store

/// Container events as moby records them: the container's labels, `image` (as the user named
/// it) and `name` as attributes, plus the action's own.
enum ContainerEvents {
    struct Actor: Sendable {
        var id: String
        /// The container's labels, `name` and `image` (`ContainerRecord.eventAttributes`).
        var base: [String: String]

        init(_ record: ContainerRecord) {
            id = record.id
            base = record.eventAttributes()
        }

        func attributes(_ extra: [String: String]) -> [String: String] {
            base.merging(extra) { _, given in given }
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
