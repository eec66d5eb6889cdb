#if canImport(Glibc)
import Glibc
#endif
import Platform
import Store

/// `/volumes` as engine operations (docs/volumes.md): the local driver only. A volume is a row
/// in the Store and the directory `<skiff root>/volumes/<name>/_data`; a volume with driver
/// options is mounted in each container from them (`LocalVolumeOptions`).
extension Engine {
    /// A volume as the API shows it, with how many containers use it.
    struct VolumeEntry {
        var record: VolumeRecord
        var references: Int
    }

    func volumeMountpoint(_ name: String) -> String { config.skiffRoot + "/volumes/" + name + "/_data" }

    /// moby's label of a volume created without a name (moby 23+, API 1.42+): `volume prune`
    /// without `all` removes such volumes as it removes those containers made.
    static let anonymousVolumeLabel = "com.docker.volume.anonymous"

    /// `POST /volumes/create`: an existing volume of that name is returned as it is (moby);
    /// a new one gets its directory and a `create` event. Without a name: 64 hex and moby's
    /// anonymous label.
    func createVolume(name requested: String, driver: String, options: [String: String],
                      labels given: [String: String]) throws -> VolumeRecord {
        let name = requested.isEmpty ? ContainerNames.newID() : requested
        var labels = given
        if requested.isEmpty { labels[Engine.anonymousVolumeLabel] = "" }
        if !driver.isEmpty && driver != "local" {
            throw EngineError(.notFound, "create \(name): error looking up volume plugin \(driver): plugin \"\(driver)\" not found")
        }
        try MountPlanner.checkVolumeName(name)
        do {
            _ = try LocalVolumeOptions(options)
        } catch let error as EngineError {
            throw EngineError(error.code, "create \(name): " + error.message)
        }
        let created = Int64(time(nil))
        let (record, isNew) = try withStore { store in
            try store.ensureVolume(name: name, labels: labels, options: options, created: created)
        }
        guard isNew else { return record }
        do {
            try FileSystem.makeDirectories(volumeMountpoint(name), mode: 0o755)
        } catch {
            _ = try? withStore { try $0.deleteVolume(name: name) }
            FileSystem.removeTree(config.skiffRoot + "/volumes/" + name)
            throw EngineError(.internal, "create \(name): \(error)")
        }
        try withStore { store in _ = try store.addEvent(type: "volume", action: "create", actorID: name, attributes: ["driver": "local"]) }
        return record
    }

    /// `GET /volumes/{name}`.
    func inspectVolume(_ name: String) throws -> VolumeEntry {
        try withStore { store in
            guard let record = try store.volume(name: name) else { throw EngineError(.notFound, "get \(name): no such volume") }
            return VolumeEntry(record: record, references: try store.volumeUsers(name).count)
        }
    }

    /// Every volume with its reference count.
    func listVolumes() throws -> [VolumeEntry] {
        try withStore { store in
            let counts = try store.volumeReferenceCounts()
            return try store.volumes().map { VolumeEntry(record: $0, references: counts[$0.name] ?? 0) }
        }
    }

    /// `DELETE /volumes/{name}`: refused while any container, running or not, uses it (moby's
    /// 409); `force` makes a missing volume no error.
    func removeVolume(_ name: String, force: Bool) throws {
        do {
            try withStore { store in try store.deleteVolume(name: name) }
        } catch let error as StoreError where error.code == .notFound && force {
            return
        }
        try removeVolumeFiles(name)
        try withStore { store in _ = try store.addEvent(type: "volume", action: "destroy", actorID: name, attributes: ["driver": "local"]) }
    }

    /// `POST /volumes/prune`: volumes no container uses; named ones only with `all` (API 1.42+;
    /// before it every unused volume). Returns the names removed and the bytes their data took.
    /// Anonymous: made by a container for a mount without a name, or created through the API
    /// without one (moby's label).
    func pruneVolumes(all: Bool, matches: ([String: String]) -> Bool) throws -> (removed: [String], reclaimed: Int64) {
        var removed: [String] = []
        var reclaimed: Int64 = 0
        for entry in try listVolumes() where entry.references == 0 && matches(entry.record.labels)
            && (all || entry.record.anonymous || entry.record.labels[Engine.anonymousVolumeLabel] != nil) {
            let size = VolumeUsage.size(of: volumeMountpoint(entry.record.name))
            do {
                try removeVolume(entry.record.name, force: false)
            } catch let error as StoreError where error.code == .invalidState || error.code == .notFound {
                continue    // taken or removed since the list was read
            }
            removed.append(entry.record.name)
            reclaimed += size
        }
        return (removed, reclaimed)
    }

    /// The volume's directory; files of sub-ids (written by a rootless container's other
    /// users) go through the image worker in the user's namespace.
    func removeVolumeFiles(_ name: String) throws {
        let directory = config.skiffRoot + "/volumes/" + name
        FileSystem.removeTree(directory)
        guard access(directory, F_OK) == 0 else { return }
        if isRootless {
            let worker = try ImageWorker(engine: self, command: "remove-volume", arguments: [name])
            if let error = worker.wait() { throw error }
        }
        if access(directory, F_OK) == 0 {
            throw EngineError(.internal, "remove \(name): some of its files could not be removed")
        }
    }
}
