import Store

/// Engine operations that read a container: inspect, and whether it runs (for a log follower).
/// Create is `ContainerCreate.swift`; what changes its run state, `Engine+ContainerLifecycle.swift`.
extension Engine {
    /// The container `id` names, brought up to date; with `size`, the bytes its writable layer
    /// holds and those plus its image's (`SizeRw`, `SizeRootFs`).
    func inspectContainer(_ id: String, size: Bool) throws -> (record: ContainerRecord, size: (Int64, Int64)?) {
        let record = try currentContainer(id)
        guard size else { return (record, nil) }
        let imageSize = try withStore { try $0.image(byNameOrID: record.imageID, normalizedName: nil)?.size } ?? 0
        let rw = ContainerView.sizeRw(containerDir: config.skiffRoot + "/containers/" + record.id)
        return (record, (rw, rw + imageSize))
    }

    /// Running (or paused, or between restarts) with its monitor alive.
    static func isContainerRunning(_ record: ContainerRecord) -> Bool {
        record.isActive && MonitorConnection.isAlive(record)
    }

    /// Whether the container with this full id still runs (`isContainerRunning(_:)`); false
    /// once it is gone or its row cannot be read.
    func isContainerRunning(id: String) -> Bool {
        guard let current = try? withStore({ try $0.container(id: id) }) else { return false }
        return Engine.isContainerRunning(current)
    }
}
