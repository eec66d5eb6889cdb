import Platform
import Store

/// moby's volume events around a run: `volume mount` for each volume as the container starts
/// (attributes `driver`, `container`, `destination`, `read/write`, `propagation`) and `volume
/// unmount` as it stops (`driver`, `container`), each just before `start` and `die` as moby
/// writes them (its start mounts, its exit clean-up unmounts). The monitor writes them,
/// so restarts by policy and runs that end while the service is down get them too. The volumes
/// are the `Mounts` the service stored at create (inspect's, `Type` `volume`).
extension Monitor {
    struct VolumeMount: Equatable {
        var name: String
        var destination: String
        var readWrite: Bool
        var propagation: String
    }

    /// The volumes among a stored config's `Mounts`; none when the config cannot be read (the
    /// events are then left out: they change nothing the container does).
    static func volumeMounts(inConfig config: [UInt8]) -> [VolumeMount] {
        // Most containers have no volume: no parse for them.
        guard contains(config, #""volume""#), let json = try? JSONParser.parse(config),
              case .array(let mounts)? = json["Mounts"] else { return [] }
        return mounts.compactMap { mount in
            guard case .string("volume")? = mount["Type"], case .string(let name)? = mount["Name"], !name.isEmpty,
                  case .string(let destination)? = mount["Destination"] else { return nil }
            var readWrite = true
            if case .bool(let rw)? = mount["RW"] { readWrite = rw }
            var propagation = ""
            if case .string(let p)? = mount["Propagation"] { propagation = p }
            return VolumeMount(name: name, destination: destination, readWrite: readWrite, propagation: propagation)
        }
    }

    func recordVolumeEvents(_ store: Store, _ record: ContainerRecord, mounted: Bool) throws {
        for volume in Monitor.volumeMounts(inConfig: record.config) {
            var attributes = ["driver": "local", "container": options.id]
            if mounted {
                attributes["destination"] = volume.destination
                attributes["read/write"] = volume.readWrite ? "true" : "false"
                attributes["propagation"] = volume.propagation
            }
            _ = try store.addEvent(type: "volume", action: mounted ? "mount" : "unmount", actorID: volume.name,
                                   attributes: attributes)
        }
    }

    private static func contains(_ bytes: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count else { return false }
        var i = 0
        while i <= bytes.count - n.count {
            if bytes[i] == n[0] && bytes[i..<(i + n.count)].elementsEqual(n) { return true }
            i += 1
        }
        return false
    }
}
