#if canImport(Glibc)
import Glibc
#endif
import Platform
import Store

/// The volume side of a create (docs/volumes.md): `VolumesFrom`, volumes whose driver options
/// make the mount, and which new volumes get the image's content (copy-up).
extension ContainerPlanner {
    /// moby's ParseVolumesFrom: `container[:ro|rw]`.
    static func parseVolumesFrom(_ spec: String) throws -> (container: String, mode: String) {
        guard !spec.isEmpty else { throw EngineError(.invalidArgument, "volumes-from specification cannot be an empty string") }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return (parts[0], "") }
        guard MountPlanner.isValidMode(parts[1]) else { throw EngineError(.invalidArgument, "invalid mode: \(parts[1])") }
        guard parts[1] == "ro" || parts[1] == "rw" else {
            throw EngineError(.invalidArgument, "invalid mode for volumes-from: \(parts[1])")
        }
        return (parts[0], parts[1])
    }

    /// The volumes and binds of the `VolumesFrom` containers, where the request mounts nothing
    /// else (moby: binds and Mounts win over volumes-from); `ro`/`rw` overrides each one's own mode.
    func volumesFromMounts(_ specs: [String], taken: Set<String>, planner: MountPlanner) throws -> [PlannedMount] {
        var result: [PlannedMount] = []
        var destinations = taken
        for spec in specs {
            let (name, mode) = try ContainerPlanner.parseVolumesFrom(spec)
            let record = try engine.withStore { store in try store.resolveContainer(name) }
            let stored = try StoredContainer(record)
            for point in stored.mounts {
                guard case .string(let type)? = point["Type"], case .string(let destination)? = point["Destination"],
                      case .string(let source)? = point["Source"], !destinations.contains(destination) else { continue }
                var writable = true
                if case .bool(let rw)? = point["RW"] { writable = rw }
                if !mode.isEmpty { writable = mode == "rw" }
                switch type {
                case "volume":
                    guard case .string(let volume)? = point["Name"] else { continue }
                    let anonymous = try engine.withStore { try $0.volume(name: volume)?.anonymous ?? false }
                    result.append(planner.volume(name: volume, anonymous: anonymous, destination: destination,
                                                 readOnly: !writable, mode: mode, noCopy: true))
                case "bind":
                    var propagation = "rprivate"
                    if case .string(let p)? = point["Propagation"], !p.isEmpty { propagation = p }
                    var options = ["rbind", propagation]
                    if !writable { options.append("ro") }
                    result.append(PlannedMount(kind: .bind, source: source, destination: destination, readOnly: !writable,
                                               mode: mode, propagation: propagation, options: options))
                default:
                    continue
                }
                destinations.insert(destination)
            }
        }
        return result
    }

    /// Volumes created with driver options are mounted from them.
    func applyVolumeOptions(_ mounts: inout [PlannedMount]) throws {
        for index in mounts.indices where mounts[index].kind == .volume {
            let name = mounts[index].volumeName
            guard let given = try engine.withStore({ try $0.volume(name: name)?.options }) else { continue }
            let options = try LocalVolumeOptions(given)
            guard options.needsMount else { continue }
            mounts[index].volumeMount = try options.specMount(destination: mounts[index].destination,
                                                              readOnly: mounts[index].readOnly, mountpoint: mounts[index].source)
        }
    }
}

extension Engine {
    /// Copies the image's content into the volumes that take it (moby's populateVolumes, at
    /// create): a volume's first container only (the Store's copy-up claim), not with `nocopy`
    /// nor for a volume mounted from driver options, and only into an empty volume (the worker
    /// checks). `claimed` are the volumes whose claim this create took.
    func copyUpVolumes(_ plan: ContainerPlan, claimed: Set<String>) throws {
        for mount in plan.mounts where mount.kind == .volume && claimed.contains(mount.volumeName) {
            guard VolumeCopyUp.imageMayHave(mount.destination, lowerDirs: plan.lowerDirs) else { continue }
            let worker = try ImageWorker(engine: self, command: "volume-populate",
                                         arguments: ["--container", plan.id, "--path", mount.destination, "--volume", mount.volumeName])
            if let error = worker.wait() { throw error }
        }
    }
}

/// Whether a copy-up has anything to copy, read from the layers without a worker: false only
/// when no layer has the path nor a symlink on the way to it (then the worker, which resolves
/// the path inside the mounted root, would find nothing).
enum VolumeCopyUp {
    static func imageMayHave(_ destination: String, lowerDirs: [String]) -> Bool {
        let components = destination.split(separator: "/").map(String.init)
        for layer in lowerDirs {
            var path = layer
            var complete = true
            for component in components {
                path += "/" + component
                var info = stat()
                guard lstat(path, &info) == 0 else { complete = false; break }
                if info.st_mode & S_IFMT == S_IFLNK { return true }
                guard info.st_mode & S_IFMT == S_IFDIR else { complete = false; break }
            }
            if complete { return true }
        }
        return false
    }
}
