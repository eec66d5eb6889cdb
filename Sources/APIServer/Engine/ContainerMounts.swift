#if canImport(Glibc)
import Glibc
#endif
import OCI
import Platform

/// One mount the user asked for (Binds, Mounts, Tmpfs, an image VOLUME), resolved: what the OCI
/// spec mounts and what inspect's `Mounts` shows.
struct PlannedMount: Sendable, Equatable {
    enum Kind: String, Sendable { case bind, volume, tmpfs }

    var kind: Kind
    /// Host path (a volume's `_data`); empty for tmpfs.
    var source: String
    var destination: String
    /// Volumes: the name (64 hex for anonymous ones).
    var volumeName = ""
    var anonymous = false
    var volumeLabels: [String: String] = [:]
    /// Binds: the host directory is made when missing (Docker does it for `-v`).
    var createSource = false
    var readOnly = false
    /// Inspect's `Mode` (`ro`, `z`, the Binds mode string).
    var mode = ""
    /// Inspect's `Propagation` (binds).
    var propagation = ""
    /// OCI mount options.
    var options: [String] = []
    /// `HostConfig.Tmpfs` entries are not in inspect's `Mounts` (as Docker).
    var shownInInspect = true
    /// Volumes: `nocopy` (the image's content is not copied into a new volume).
    var noCopy = false
    /// Volumes with driver options: the mount made from them (`LocalVolumeOptions`).
    var volumeMount: Spec.Mount?

    /// The OCI mount.
    var spec: Spec.Mount {
        switch kind {
        case .tmpfs: Spec.Mount(destination: destination, type: "tmpfs", source: "tmpfs", options: options)
        case .bind, .volume: volumeMount ?? Spec.Mount(destination: destination, type: "bind", source: source, options: options)
        }
    }

    /// Docker's `MountPoint` in inspect and in the list.
    var inspect: JSON {
        var members: [JSON.Member] = [JSON.Member("Type", .string(kind.rawValue))]
        if kind == .volume { members.append(JSON.Member("Name", .string(volumeName))) }
        members += [JSON.Member("Source", .string(source)), JSON.Member("Destination", .string(destination))]
        if kind == .volume { members.append(JSON.Member("Driver", "local")) }
        members += [JSON.Member("Mode", .string(mode)), JSON.Member("RW", .bool(!readOnly)),
                    JSON.Member("Propagation", .string(propagation))]
        return .object(members)
    }
}

/// Turns Binds, Mounts, Tmpfs and the image's volumes into `PlannedMount`s with moby's checks
/// and messages.
struct MountPlanner {
    /// `<skiff root>/volumes`.
    let volumesRoot: String
    /// Makes the 64-hex names of anonymous volumes.
    var randomName: () -> String
    /// Whether a host path exists (a seam for the tests).
    var exists: (String) -> Bool = { path in
        var info = stat()
        return stat(path, &info) == 0
    }

    static let propagationModes: Set<String> = ["private", "rprivate", "slave", "rslave", "shared", "rshared"]

    func plan(binds: [String], mounts: [CreateRequest.Mount], tmpfs: [String: String], imageVolumes: [String]) throws -> [PlannedMount] {
        var planned: [PlannedMount] = []
        var destinations: Set<String> = []
        for raw in binds {
            let mount = try bind(raw)
            if destinations.contains(mount.destination) || tmpfs[mount.destination] != nil {
                throw EngineError(.invalidArgument, "Duplicate mount point: \(mount.destination)")
            }
            destinations.insert(mount.destination)
            planned.append(mount)
        }
        for spec in mounts {
            let mount = try self.mount(spec)
            if destinations.contains(mount.destination) {
                throw EngineError(.invalidArgument, "Duplicate mount point: \(spec.target)")
            }
            destinations.insert(mount.destination)
            planned.append(mount)
        }
        for destination in tmpfs.keys.sorted() {
            guard destination.hasPrefix("/") else {
                throw EngineError(.invalidArgument, "invalid tmpfs mount: '\(destination)' mount path must be absolute")
            }
            let clean = ContainerValidation.cleanPath(destination)
            if destinations.contains(clean) { throw EngineError(.invalidArgument, "Duplicate mount point: \(destination)") }
            destinations.insert(clean)
            var options = ["noexec", "nosuid", "nodev"]
            for option in (tmpfs[destination] ?? "").split(separator: ",").map(String.init) where !option.isEmpty {
                if option == "exec" { options.removeAll { $0 == "noexec" } }
                if option == "suid" { options.removeAll { $0 == "nosuid" } }
                if option == "dev" { options.removeAll { $0 == "nodev" } }
                if !options.contains(option) { options.append(option) }
            }
            planned.append(PlannedMount(kind: .tmpfs, source: "", destination: clean, options: options, shownInInspect: false))
        }
        for mount in planned { try MountPlanner.checkProcDestination(mount.destination) }
        for path in imageVolumes {
            let clean = ContainerValidation.cleanPath(path)
            guard clean.hasPrefix("/"), clean != "/", !destinations.contains(clean) else { continue }
            // An image's VOLUME would put a writable directory over procfs or sysfs files.
            try MountPlanner.checkProcDestination(clean)
            try MountPlanner.checkSysDestination(clean)
            destinations.insert(clean)
            planned.append(volume(name: randomName(), anonymous: true, destination: clean, readOnly: false, mode: ""))
        }
        return planned
    }

    /// A volume, bind or tmpfs where runc's checkProcMount refuses one (`ProcMountRule`).
    /// `destination` is clean and absolute.
    static func checkProcDestination(_ destination: String) throws {
        if let refusal = ProcMountRule.refusal(destination: destination, type: nil) {
            throw EngineError(.invalidArgument, refusal)
        }
    }

    /// An image's VOLUME on or inside /sys (binds there stay allowed, as with runc:
    /// `-v /sys/fs/cgroup:/sys/fs/cgroup:ro` is common).
    static func checkSysDestination(_ destination: String) throws {
        if destination == "/sys" {
            throw EngineError(.invalidArgument, "\"\(destination)\" cannot be mounted because it is not of type sysfs")
        }
        if destination.hasPrefix("/sys/") {
            throw EngineError(.invalidArgument, "\"\(destination)\" cannot be mounted because it is inside /sys")
        }
    }

    func volume(name: String, anonymous: Bool, destination: String, readOnly: Bool, mode: String,
                labels: [String: String] = [:], noCopy: Bool = false) -> PlannedMount {
        var options = ["rbind", "rprivate"]
        if readOnly { options.append("ro") }
        var mount = PlannedMount(kind: .volume, source: volumesRoot + "/" + name + "/_data", destination: destination,
                                 volumeName: name, anonymous: anonymous, volumeLabels: labels, readOnly: readOnly,
                                 mode: mode.isEmpty ? "z" : mode, propagation: "", options: options)
        mount.noCopy = noCopy || mode.split(separator: ",").contains("nocopy")
        return mount
    }

    static func checkVolumeName(_ name: String) throws {
        guard ContainerValidation.isRestrictedName(name) else {
            throw EngineError(.invalidArgument, "create \(name): \"\(name)\" includes invalid characters for a local volume name, "
                           + "only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")
        }
    }

    /// moby's ParseMountRaw: `[source:]destination[:mode]`.
    func bind(_ raw: String) throws -> PlannedMount {
        let invalid = EngineError(.invalidArgument, "invalid volume specification: '\(raw)'")
        let parts = raw.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard !parts[0].isEmpty else { throw invalid }
        var source = "", target = "", mode = ""
        switch parts.count {
        case 1:
            target = parts[0]
        case 2:
            if MountPlanner.isValidMode(parts[1]) { throw invalid }
            source = parts[0]; target = parts[1]
        case 3:
            source = parts[0]; target = parts[1]; mode = parts[2]
        default:
            throw invalid
        }
        guard MountPlanner.isValidMode(mode) else { throw EngineError(.invalidArgument, "invalid mode: \(mode)") }
        let isBind = source.hasPrefix("/")
        let type = isBind ? "bind" : "volume"
        func fail(_ what: String) -> EngineError {
            EngineError(.invalidArgument, "invalid volume specification: '\(raw)': invalid mount config for type \"\(type)\": \(what)")
        }
        guard ContainerValidation.cleanPath(target) != "/" else { throw fail("invalid specification: destination can't be '/'") }
        guard target.hasPrefix("/") else { throw fail("invalid mount path: '\(target)' mount path must be absolute") }
        let words = mode.split(separator: ",").map(String.init)
        let readOnly = words.contains("ro")
        let destination = ContainerValidation.cleanPath(target)
        if isBind {
            let propagation = words.first { MountPlanner.propagationModes.contains($0) } ?? "rprivate"
            var options = [words.contains("norecurse") ? "bind" : "rbind", propagation]
            if readOnly { options.append("ro") }
            return PlannedMount(kind: .bind, source: ContainerValidation.cleanPath(source), destination: destination,
                                createSource: true, readOnly: readOnly, mode: mode, propagation: propagation, options: options)
        }
        if source.isEmpty {
            return volume(name: randomName(), anonymous: true, destination: destination, readOnly: readOnly, mode: mode)
        }
        try MountPlanner.checkVolumeName(source)
        return volume(name: source, anonymous: false, destination: destination, readOnly: readOnly, mode: mode)
    }

    /// moby's linuxValidMountMode: comma-separated, at most one of each kind.
    static func isValidMode(_ mode: String) -> Bool {
        if mode.isEmpty { return true }
        var counts: [String: Int] = [:]
        for word in mode.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let kind: String
            switch word {
            case "ro", "rw": kind = "rw"
            case "z", "Z": kind = "label"
            case _ where propagationModes.contains(word): kind = "propagation"
            case "nocopy": kind = "copy"
            case "consistent", "cached", "delegated": kind = "consistency"
            default: return false
            }
            counts[kind, default: 0] += 1
            if counts[kind]! > 1 { return false }
        }
        return true
    }

    /// moby's ParseMountSpec for one `Mounts` entry.
    func mount(_ m: CreateRequest.Mount) throws -> PlannedMount {
        func fail(_ what: String) -> EngineError {
            EngineError(.invalidArgument, "invalid mount config for type \"\(m.type)\": \(what)")
        }
        if m.type != "bind" && m.bindOptions != nil { throw fail("field BindOptions must not be specified") }
        if m.type != "volume" && m.volumeOptions != nil { throw fail("field VolumeOptions must not be specified") }
        if m.type != "tmpfs" && m.tmpfsOptions != nil { throw fail("field TmpfsOptions must not be specified") }
        guard !m.target.isEmpty else { throw fail("field Target must not be empty") }
        guard ContainerValidation.cleanPath(m.target) != "/" else { throw fail("invalid specification: destination can't be '/'") }
        guard m.target.hasPrefix("/") else { throw fail("invalid mount path: '\(m.target)' mount path must be absolute") }
        let destination = ContainerValidation.cleanPath(m.target)
        switch m.type {
        case "bind":
            guard !m.source.isEmpty else { throw fail("field Source must not be empty") }
            let propagation = m.bindOptions?.propagation ?? ""
            if !propagation.isEmpty && !MountPlanner.propagationModes.contains(propagation) {
                throw fail("invalid propagation mode: \(propagation)")
            }
            guard m.source.hasPrefix("/") else { throw fail("invalid mount path: '\(m.source)' mount path must be absolute") }
            let create = m.bindOptions?.createMountpoint ?? false
            if !create && !exists(m.source) { throw fail("bind source path does not exist: \(m.source)") }
            let effective = propagation.isEmpty ? "rprivate" : propagation
            var options = [(m.bindOptions?.nonRecursive ?? false) ? "bind" : "rbind", effective]
            if m.readOnly { options.append("ro") }
            return PlannedMount(kind: .bind, source: ContainerValidation.cleanPath(m.source), destination: destination,
                                createSource: create, readOnly: m.readOnly, mode: "", propagation: effective, options: options)
        case "volume":
            if let subpath = m.volumeOptions?.subpath, !subpath.isEmpty {
                if m.source.isEmpty { throw fail("cannot use Subpath with anonymous volumes") }
                throw fail("VolumeOptions.Subpath is not supported")
            }
            if let driver = m.volumeOptions?.driver, !driver.isEmpty, driver != "local" {
                throw EngineError(.notFound, "error looking up volume plugin \(driver): plugin \"\(driver)\" not found")
            }
            if m.source.isEmpty {
                return volume(name: randomName(), anonymous: true, destination: destination, readOnly: m.readOnly, mode: "",
                              labels: m.volumeOptions?.labels ?? [:], noCopy: m.volumeOptions?.noCopy ?? false)
            }
            try MountPlanner.checkVolumeName(m.source)
            return volume(name: m.source, anonymous: false, destination: destination, readOnly: m.readOnly, mode: "",
                          labels: m.volumeOptions?.labels ?? [:], noCopy: m.volumeOptions?.noCopy ?? false)
        case "tmpfs":
            guard m.source.isEmpty else { throw fail("field Source must not be specified") }
            var options = ["nosuid", "nodev"]
            var data: [String] = []
            if m.readOnly { data.append("ro") }
            if let t = m.tmpfsOptions, t.mode != 0 { data.append("mode=" + String(t.mode, radix: 8)) }
            if let t = m.tmpfsOptions, t.sizeBytes != 0 { data.append("size=" + MountPlanner.sizeWithSuffix(t.sizeBytes)) }
            var exec = false
            for option in m.tmpfsOptions?.options ?? [] {
                guard option.count == 1 || option.count == 2 else { throw fail("invalid option array length") }
                guard option[0] == "exec" || option[0] == "noexec" else { throw fail("invalid option: \(option[0])") }
                if option[0] == "exec" { exec = true }
                data.append(option.joined(separator: "="))
            }
            if !exec && !data.contains("noexec") { options.append("noexec") }
            options += data.filter { $0 != "exec" && $0 != "noexec" }
            if exec { options.append("exec") }
            return PlannedMount(kind: .tmpfs, source: "", destination: destination, readOnly: m.readOnly, mode: "",
                                propagation: "", options: options)
        case "":
            throw fail("mount type unknown")
        default:
            throw fail("mount type unknown")
        }
    }

    /// `64m` for 67108864 (moby's ConvertTmpfsOptions).
    static func sizeWithSuffix(_ size: Int64) -> String {
        for (suffix, divisor) in [("g", Int64(1) << 30), ("m", Int64(1) << 20), ("k", Int64(1) << 10)] where size % divisor == 0 {
            return "\(size / divisor)\(suffix)"
        }
        return "\(size)"
    }
}
