#if canImport(Glibc)
import Glibc
#endif
import Config
import Images
import OCI
import MonitorProtocol
import Platform
import Store

/// `POST /containers/create` as an engine operation: validate (moby's order and messages),
/// resolve the image, merge its defaults, then record the row and write the bundle, undoing
/// everything made when a step fails.
extension Engine {
    /// Creates a container; returns its id and Docker's warnings.
    func createContainer(_ request: CreateRequest, name requestedName: String?) throws -> (id: String, warnings: [String]) {
        var plan = try ContainerPlanner(engine: self).plan(request, name: requestedName)
        try commit(&plan, nameIsMadeUp: requestedName == nil)
        return (plan.id, plan.warnings)
    }

    /// Records the row, the volumes and the event, and writes the files; on a failure removes
    /// what it made, newest first.
    /// A made-up name (`nameIsMadeUp`) that another create took since it was found free is made
    /// up again, as moby's name generation retries.
    func commit(_ plan: inout ContainerPlan, nameIsMadeUp: Bool = false) throws {
        var undo: [() -> Void] = []
        func rollback() { for step in undo.reversed() { step() } }
        do {
            let id = plan.id
            func row() throws -> ContainerRecord {
                var record = ContainerRecord(id: plan.id, name: plan.name, imageID: plan.imageID, imageName: plan.imageName,
                                             created: plan.created, state: .created, config: plan.stored.bytes)
                record.summary = try ContainerView.staticSummary(record)
                return record
            }
            var record = try row()
            var attempt = 0
            while true {
                do {
                    try withStore { store in try store.addContainer(record) }
                    break
                } catch let error as StoreError where error.code == .exists && nameIsMadeUp && attempt < 6 {
                    attempt += 1
                    plan.name = try withStore { try ContainerNames.freeRandomName(in: $0, id: id, from: attempt) }
                    record = try row()
                }
            }
            undo.append { [self] in _ = try? self.withStore { try $0.deleteContainer(id) } }
            // Its addresses on user-defined networks, in one transaction (they go with the row),
            // and their /etc/hosts lines (IPv6 too on an IPv6 network), as Docker writes them.
            let hostname = String(plan.hostnameFile.split(separator: "\n").first ?? "")
            for endpoint in try addEndpoints(containerID: id, plan.joins) {
                for line in Engine.hostsLines(endpoint, hostname: hostname) { plan.hostsFile += line + "\n" }
            }

            // Volumes: rows first (a new one is ours to remove on failure), then their directories.
            // The first container of a volume takes its copy-up (`copyUpVolumes`).
            var copyUp: Set<String> = []
            var madeVolumes: [String] = []
            for mount in plan.mounts where mount.kind == .volume {
                let (_, isNew, claimed) = try withStore { store -> (VolumeRecord, Bool, Bool) in
                    let result = try store.ensureVolume(name: mount.volumeName, labels: mount.volumeLabels,
                                                        anonymous: mount.anonymous, created: plan.created / 1_000_000_000)
                    try store.linkVolume(mount.volumeName, to: id)
                    let claimed = try store.claimCopyUp(mount.volumeName)
                    return (result.0, result.1, claimed)
                }
                if claimed && !mount.noCopy && mount.volumeMount == nil { copyUp.insert(mount.volumeName) }
                if isNew { madeVolumes.append(mount.volumeName) }
                let directory = config.skiffRoot + "/volumes/" + mount.volumeName
                if isNew {
                    let name = mount.volumeName
                    undo.append { [self] in
                        _ = try? self.withStore { store in
                            try store.deleteContainer(id)
                            try store.deleteVolume(name: name)
                        }
                        FileSystem.removeTree(directory)
                    }
                }
                try makeDirectories(directory + "/_data", created: &undo)
            }
            for mount in plan.mounts where mount.kind == .bind && mount.createSource {
                try makeDirectories(mount.source, created: &undo)
            }

            let dir = plan.containerDir
            try makeDirectories(config.skiffRoot + "/containers", mode: 0o700, created: &undo)
            guard mkdir(dir, 0o700) == 0 else {
                throw EngineError(.internal, "create \(Store.shortID(id)): mkdir \(dir): \(String(cString: strerror(errno)))")
            }
            undo.append { Engine.removeCreatedDirectory(dir) }
            for sub in ["rootfs", "upper", "work"] + (plan.lowerDirs.isEmpty ? ["empty"] : []) {
                guard mkdir(dir + "/" + sub, 0o755) == 0 else {
                    throw EngineError(.internal, "create \(Store.shortID(id)): mkdir \(dir)/\(sub): \(String(cString: strerror(errno)))")
                }
            }
            for (file, text) in [("hostname", plan.hostnameFile), ("hosts", plan.hostsFile), ("resolv.conf", plan.resolvConf)] {
                try write(dir + "/" + file, Array(text.utf8), id: id)
            }
            if let reasons = plan.denialReasons { try write(dir + "/denials.json", reasons, id: id) }
            try write(dir + "/config.json", plan.spec.bytes, id: id)
            if !copyUp.isEmpty { try copyUpVolumes(plan, claimed: copyUp) }
            // `docker run --rm`: the start follows at once, and its monitor can begin now that
            // the bundle is written (`PreparedStarts`); a failure from here on abandons it.
            // (Not with `container:X`: the network namespace is X's at start.)
            if plan.autoRemove && ContainerNetworkMode.target(StoredContainer(json: plan.stored).networkMode) == nil {
                preparedStarts.prepare(record, engine: self)
                undo.append { [self] in preparedStarts.cancel(id) }
            }

            var attributes = plan.labels
            attributes["name"] = plan.name
            attributes["image"] = plan.imageName
            try withStore { store in
                // The volumes it made first, as Docker's events come.
                for name in madeVolumes {
                    _ = try store.addEvent(type: "volume", action: "create", actorID: name, attributes: ["driver": "local"])
                }
                _ = try store.addEvent(type: "container", action: "create", actorID: id, attributes: attributes)
            }
        } catch {
            rollback()
            throw error
        }
    }

    private func write(_ path: String, _ bytes: [UInt8], id: String) throws {
        do {
            try FileSystem.writeAtomically(path, bytes, mode: 0o644, durable: false)
        } catch {
            throw EngineError(.internal, "create \(Store.shortID(id)): \(error)")
        }
    }

    /// Removes the directory of a create that failed. Listing a directory takes a descriptor:
    /// a create that failed for want of descriptors may find none for its rollback either, so
    /// a removal that left the directory is tried again, for up to 2 s.
    static func removeCreatedDirectory(_ dir: String) {
        for _ in 0..<20 {
            FileSystem.removeTree(dir)
            if access(dir, F_OK) != 0 { return }
            usleep(100_000)
        }
    }

    /// `mkdir -p` that records each directory it made, so a rollback removes exactly those.
    private func makeDirectories(_ path: String, mode: mode_t = 0o755, created: inout [() -> Void]) throws {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) == 0 {
                let made = prefix
                created.append { rmdir(made) }
            } else if errno != EEXIST {
                throw EngineError(.internal, "mkdir \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// A container resolved and ready to be recorded and written.
struct ContainerPlan: Sendable {
    var id: String
    var name: String
    var imageID: String
    var imageName: String
    /// Unix nanoseconds.
    var created: Int64
    var warnings: [String]
    var containerDir: String
    var lowerDirs: [String]
    var mounts: [PlannedMount]
    var labels: [String: String]
    /// The OCI config.json.
    var spec: Spec
    var stored: JSON
    var hostnameFile: String
    var hostsFile: String
    var resolvConf: String
    /// HostConfig.AutoRemove: the monitor is spawned as the files are written (`PreparedStarts`).
    var autoRemove = false
    /// `denials.json` beside config.json (docs/denials.md); nil: denials are not explained.
    var denialReasons: [UInt8]? = nil
    /// The user-defined networks it joins: endpoint rows made with the container's.
    var joins: [NetworkJoin] = []
}

/// Validation and resolution of a create request: everything before anything is written.
struct ContainerPlanner {
    let engine: Engine
    var now: () -> timespec = { Timestamp.now() }
    var hostResolvConf = "/etc/resolv.conf"
    var hostHosts = "/etc/hosts"

    /// Runs the steps in order, each on what the ones before produced. The order is moby's, so
    /// a request with several faults gets the error Docker gives: the request's own checks, then
    /// the image, then what depends on the image (the user, its volumes).
    func plan(_ original: CreateRequest, name requestedName: String?) throws -> ContainerPlan {
        var request = try validate(original, name: requestedName)
        let image = try resolveImage(&request)
        let identity = try identify(&request)
        let process = try planMountsAndSecurity(&request, image: image, identity: identity)
        let spec = buildSpec(request, image: image, identity: identity, process: process)
        var plan = buildRecord(request, image: image, identity: identity, process: process, spec: spec)
        plan.denialReasons = denialReasons(request, identity: identity, process: process)
        return plan
    }

    /// The spec annotation that asks the monitor to explain denials (Runtime's
    /// `Seccomp.explainAnnotation`; the service does not link the runtime).
    static let explainAnnotation = "run.skiff.explain-denials"
    /// The profile to learn (Runtime's `Seccomp.learnAnnotation`): every syscall allowed and noted.
    static let learnAnnotation = "run.skiff.seccomp-learn"

    /// `denials.json` (docs/denials.md): nil without a seccomp profile or with explanations off.
    func denialReasons(_ request: ValidatedRequest, identity: Identity, process: ProcessPlan) -> [UInt8]? {
        let settings = engine.config
        if let learn = request.security.seccompLearn {
            let empty = SeccompProfile(source: "learn", defaultAction: .allow)
            var reasons = ContainerDenials(profile: empty, capabilities: process.capabilities, defaults: [], defaultsOrigin: nil,
                                           capDrop: []).reasons(container: identity.name, hint: false)
            reasons.learn = learn
            return reasons.bytes
        }
        guard let profile = request.seccompProfile, settings.explainDenials else { return nil }
        let denials = ContainerDenials(profile: profile, capabilities: process.capabilities,
                                       defaults: settings.defaultCapabilities,
                                       defaultsOrigin: settings["containers.default_capabilities"]?.origin,
                                       capDrop: request.host.capDrop)
        return denials.reasons(container: identity.name, hint: settings.denialHint).bytes
    }

    /// The create request once `validate` accepted it: moby's defaults filled in, its parts parsed.
    struct ValidatedRequest {
        var request: CreateRequest
        /// The name the client asked for, checked; nil when one is to be made up.
        var name: String?
        var config: CreateRequest.ContainerConfig
        var host: CreateRequest.HostConfig
        var extraHosts: [(name: String, address: String)]
        var security: ContainerValidation.SecurityOptions
        var seccompProfile: SeccompProfile?
        var planner: MountPlanner
        /// Binds, Mounts and Tmpfs; the image's volumes are added by `planMountsAndSecurity`.
        var mounts: [PlannedMount]
        /// The default network's helper (`bridge`); nil for `none` and `host`.
        var network: UserModeNetwork?
        /// The default network's addresses when its helper is pasta (then `network` is nil).
        var pasta: PastaAddressing? = nil
        /// `container:X`: X, whose network, /etc files and host name the container gets.
        var joined: ContainerRecord? = nil
        /// The user-defined networks it joins (`Engine+NetworkJoin`).
        var joins: [NetworkJoin] = []
    }

    /// The image the container runs and the command it starts with.
    struct ResolvedImage {
        var image: ImageRecord
        /// Layer ids, bottom first.
        var layers: [String]
        /// Entrypoint then Cmd, after the image's defaults; never empty.
        var command: [String]
    }

    /// The container's id, name and host name.
    struct Identity {
        var id: String
        var name: String
        var hostname: String
        /// `<skiff root>/containers/<id>`: the bundle.
        var containerDir: String
        /// `<runtime directory>/containers/<id>`.
        var runDir: String
    }

    /// What the container's process gets: its root layers, user and mounts, its privileges and
    /// limits, its environment.
    struct ProcessPlan {
        /// Layer `diff` directories, top first.
        var lowerDirs: [String]
        var user: ImageUser
        var mounts: [PlannedMount]
        var capabilities: [String]
        var rlimits: [(String, UInt64, UInt64)]
        var initPath: String?
        var env: [String]
        var sysctls: [String: String]
        var resources: ContainerSpecInput.Resources
        var warnings: [String]
        /// containers.conf `cgroup_manager = "systemd"` on cgroup v2 with systemd answering: the
        /// runtime asks it for a transient scope (docs/cgroups.md).
        var systemdScope = false
    }

    /// Step 1, in moby's order: the name, the request's own checks, the security options and
    /// seccomp profile, then Binds, Mounts and Tmpfs (moby parses them with the host config).
    func validate(_ original: CreateRequest, name requestedName: String?) throws -> ValidatedRequest {
        var config = original.config
        var host = original.hostConfig
        let settings = engine.config

        var name: String?
        if let requestedName, !requestedName.isEmpty { name = try ContainerValidation.checkName(requestedName) }
        if host.restartPolicy.name.isEmpty { host.restartPolicy.name = "no" }
        config.workingDir = try ContainerValidation.workingDir(config.workingDir)
        if !config.stopSignal.isEmpty { _ = try ContainerValidation.parseSignal(config.stopSignal) }
        try ContainerValidation.checkEnv(config.env)
        try ContainerValidation.checkHealthcheck(config.healthcheck)
        if host.autoRemove && host.restartPolicy.name != "no" {
            throw EngineError(.invalidArgument, "can't create 'AutoRemove' container with restart policy")
        }
        let planner = MountPlanner(volumesRoot: settings.skiffRoot + "/volumes", randomName: ContainerNames.newID)
        for mount in host.mounts { _ = try planner.mount(mount) }
        let extraHosts = try host.extraHosts.map(ContainerValidation.extraHost)
        try ContainerValidation.checkRestartPolicy(host.restartPolicy, autoRemove: host.autoRemove)
        do {
            _ = try ContainerValidation.normalizeCapabilities(host.capAdd)
        } catch let error as EngineError {
            throw EngineError(.invalidArgument, "invalid CapAdd: " + error.message)
        }
        do {
            _ = try ContainerValidation.normalizeCapabilities(host.capDrop)
        } catch let error as EngineError {
            throw EngineError(.invalidArgument, "invalid CapDrop: " + error.message)
        }
        guard host.shmSize >= 0 else { throw EngineError(.invalidArgument, "SHM size can not be less than 0") }
        if host.shmSize == 0 { host.shmSize = 64 << 20 }
        for ulimit in host.ulimits { try ContainerValidation.checkUlimit(ulimit) }
        if host.oomScoreAdj < -1000 || host.oomScoreAdj > 1000 {
            throw EngineError(.invalidArgument, "Invalid value \(host.oomScoreAdj), range for oom score adj is [-1000, 1000]")
        }

        // Network, namespaces.
        try ContainerPlanner.validateHostModes(&host, config: config, isUserNetwork: engine.isUserNetwork)
        let joins = try engine.networkJoins(networkMode: host.networkMode, settings: original.endpointSettings)

        let security = try ContainerValidation.securityOptions(host.securityOpt)
        if let learn = security.seccompLearn {
            guard learn.hasPrefix("/"), !learn.hasSuffix("/") else {
                throw EngineError(.invalidArgument, "invalid --security-opt seccomp-learn: \"\(learn)\": the profile to write must be an absolute file path")
            }
            guard security.seccomp == nil || security.seccomp == "unconfined" else {
                throw EngineError(.invalidArgument, "invalid --security-opt seccomp-learn: a profile is learned with every syscall allowed; it cannot be combined with seccomp=PROFILE")
            }
        }
        var seccompProfile: SeccompProfile?
        if !host.privileged && security.seccomp != "unconfined" {
            if let given = security.seccomp, !given.isEmpty {
                if given.hasPrefix("{") {
                    seccompProfile = try SeccompProfiles.parse(Array(given.utf8), source: "SecurityOpt")
                } else {
                    let bytes: [UInt8]
                    do {
                        bytes = try FileSystem.readFile(given)
                    } catch {
                        throw EngineError(.invalidArgument, "opening seccomp profile (\(given)) failed: open \(given): \(error.text.lowercased())")
                    }
                    seccompProfile = try SeccompProfiles.parse(bytes, source: given)
                }
            } else {
                seccompProfile = try SeccompProfiles.load(configured: settings.seccompProfile)
            }
        }

        // Binds, Mounts, Tmpfs (before the image, as moby parses them with the host config).
        let mounts = try planner.plan(binds: host.binds, mounts: host.mounts, tmpfs: host.tmpfs, imageVolumes: [])
        if host.networkMode == "none" && extraHosts.contains(where: { $0.address == "host-gateway" }) {
            throw EngineError(.invalidArgument, "add-host: host-gateway needs a network: --network none has none")
        }
        let pasta = host.networkMode == "bridge" ? try ContainerNetwork.pasta(settings, rootless: engine.isRootless) : nil
        let pastaAddressing = try pasta.map { try ContainerNetwork.pastaAddressing($0, settings: settings) }
        if let pastaAddressing, pastaAddressing.hostAddress == nil,
           let entry = extraHosts.first(where: { $0.address == "host-gateway" }) {
            // Podman's answer: pasta's container has the host's address, so the host has none to give.
            throw EngineError(.invalidArgument, "unable to replace \"host-gateway\" of host entry \"\(entry.name):host-gateway\": host containers internal IP address is empty")
        }
        let network = host.networkMode == "bridge" && pasta == nil ? try ContainerNetwork.userMode(settings) : nil
        try ContainerPorts.validate(host.portBindings, network: host.networkMode)
        return ValidatedRequest(request: original, name: name, config: config, host: host, extraHosts: extraHosts,
                                security: security, seccompProfile: seccompProfile, planner: planner, mounts: mounts,
                                network: network, pasta: pastaAddressing,
                                joined: ContainerNetworkMode.joined(host.networkMode, engine: engine), joins: joins)
    }

    /// Network, namespaces, log driver, runtime: moby's checks and defaults.
    static func validateHostModes(_ host: inout CreateRequest.HostConfig, config: CreateRequest.ContainerConfig,
                                  isUserNetwork: (String) -> Bool = { _ in false }) throws {
        switch host.networkMode {
        case "", "default", "bridge": host.networkMode = "bridge"
        case "none", "host": break
        default:
            if host.networkMode.hasPrefix(ContainerNetworkMode.prefix) {
                try ContainerNetworkMode.validate(host, config: config)
            } else if !isUserNetwork(host.networkMode) {
                throw EngineError(.notFound, "network \(host.networkMode) not found")
            }
        }
        if host.networkMode == "host" && !host.links.isEmpty {
            throw EngineError(.invalidArgument, "conflicting options: host type networking can't be used with links. This would result in undefined behavior")
        }
        for (field, value) in [("IpcMode", host.ipcMode), ("PidMode", host.pidMode), ("UTSMode", host.utsMode)] {
            let allowed: Set<String> = field == "IpcMode" ? ["", "private", "shareable", "host", "none"] : ["", "host", "private"]
            guard allowed.contains(value) else {
                throw EngineError(.invalidArgument, "invalid \(field): \(value) is not supported")
            }
        }
        if host.utsMode == "host" && !config.hostname.isEmpty {
            throw EngineError(.invalidArgument, "conflicting options: hostname and the UTS mode")
        }
        if host.ipcMode.isEmpty { host.ipcMode = "private" }
        guard ["", "private", "host"].contains(host.cgroupnsMode) else {
            throw EngineError(.invalidArgument, "invalid cgroup namespace mode: \(host.cgroupnsMode)")
        }
        if host.cgroupnsMode.isEmpty { host.cgroupnsMode = "private" }
        guard host.usernsMode.isEmpty || host.usernsMode == "host" else {
            throw EngineError(.invalidArgument, "invalid UsernsMode: \(host.usernsMode) is not supported")
        }
        for spec in host.volumesFrom { _ = try ContainerPlanner.parseVolumesFrom(spec) }
        // Legacy links (the default network's /etc/hosts entries and environment) are not
        // built; on a user-defined network moby ignores HostConfig.Links (registerLinks) and
        // uses EndpointsConfig.NAME.Links, where the docker CLI also puts `--link`.
        let userNetwork = !["bridge", "none", "host"].contains(host.networkMode) && !host.networkMode.hasPrefix(ContainerNetworkMode.prefix)
        if !host.links.isEmpty && !userNetwork {
            throw EngineError(.invalidArgument, "Links are not supported on the \(host.networkMode) network by Skiff: legacy links are not built; on a user-defined network they are (docs/networking.md)")
        }
        if let devices = host.devices, devices != .array([]) { throw EngineError(.invalidArgument, "Devices are not supported") }
        switch host.logType {
        // The file is conmon's k8s-file layout, but clients read the type to decide whether
        // `logs` can be read back (docker-py's `run()` only does for json-file, journald, local).
        case "": host.logType = "json-file"
        case "k8s-file", "json-file", "none": break
        default: throw EngineError(.invalidArgument, "logger: no log driver named '\(host.logType)' is registered")
        }
        if host.runtime.isEmpty { host.runtime = "skiff" }
    }

    /// Step 2: the image, its defaults merged into the config, and the command.
    func resolveImage(_ request: inout ValidatedRequest) throws -> ResolvedImage {
        guard !request.config.image.isEmpty else { throw EngineError(.invalidArgument, "invalid reference format") }
        let reference = request.config.image
        let (image, layers) = try engine.withStore { store -> (ImageRecord, [String]) in
            let image = try LocalImages.find(reference, store).image
            return (image, image.layers)
        }
        let imageConfig = LocalImages.config(of: image)?.config ?? ImageConfig.Container()
        ContainerPlanner.merge(&request.config, image: imageConfig)
        if request.config.entrypoint == [""] { request.config.entrypoint = nil }
        let command = (request.config.entrypoint ?? []) + (request.config.cmd ?? [])
        guard !command.isEmpty else { throw EngineError(.invalidArgument, "no command specified") }
        return ResolvedImage(image: image, layers: layers, command: command)
    }

    /// A new id, the requested name or a free random one, and the host name (the id's prefix
    /// unless the request or the host's UTS namespace gives one).
    func identify(_ request: inout ValidatedRequest) throws -> Identity {
        let id = ContainerNames.newID()
        let resolvedName = try request.name ?? engine.withStore { try ContainerNames.freeRandomName(in: $0, id: id) }
        if let joined = request.joined, let name = ContainerNetworkMode.hostname(of: joined) {
            request.config.hostname = name
        }
        if request.config.hostname.isEmpty && request.host.utsMode != "host" {
            request.config.hostname = String(id.prefix(12))
        }
        let hostname = request.host.utsMode == "host" ? ContainerPlanner.hostHostname() : request.config.hostname
        let settings = engine.config
        return Identity(id: id, name: resolvedName, hostname: hostname,
                        containerDir: settings.skiffRoot + "/containers/" + id,
                        runDir: settings.runtimeDirectoryPath + "/containers/" + id)
    }

    /// Step 3: layers and user, the image's volumes, capabilities and rlimits, init, environment,
    /// sysctls, masked paths and resources.
    func planMountsAndSecurity(_ request: inout ValidatedRequest, image: ResolvedImage,
                               identity: Identity) throws -> ProcessPlan {
        let config = request.config
        var host = request.host
        let settings = engine.config
        let planner = request.planner
        let hostname = identity.hostname
        var warnings: [String] = []
        var mounts = request.mounts

        // Layers, top first; the user.
        let layersRoot = settings.skiffRoot + "/layers/"
        let lowerDirs = image.layers.reversed().map { layersRoot + ($0.hasPrefix("sha256:") ? String($0.dropFirst(7)) : $0) + "/diff" }
        let user = try ImageUser.resolve(config.user, layers: lowerDirs, groupAdd: request.host.groupAdd)

        // VolumesFrom, then image volumes as anonymous volumes, where nothing else is mounted.
        mounts += try volumesFromMounts(host.volumesFrom, taken: Set(mounts.map(\.destination)), planner: planner)
        let taken = Set(mounts.map(\.destination))
        mounts += try planner.plan(binds: [], mounts: [], tmpfs: [:],
                                   imageVolumes: config.volumes.filter { !taken.contains(ContainerValidation.cleanPath($0)) })
        try applyVolumeOptions(&mounts)

        // Capabilities, seccomp, rlimits.
        let capabilities = try ContainerValidation.capabilities(defaults: settings.defaultCapabilities, add: host.capAdd,
                                                                drop: host.capDrop, privileged: host.privileged)
        var ulimits: [String: CreateRequest.Ulimit] = [:]
        for text in settings.defaultUlimits {
            let ulimit = try ContainerValidation.parseUlimit(text)
            ulimits[ulimit.name] = ulimit
        }
        for ulimit in host.ulimits { ulimits[ulimit.name] = ulimit }
        let rlimits = ulimits.keys.sorted().map { key -> (String, UInt64, UInt64) in
            let u = ulimits[key]!
            func value(_ v: Int64) -> UInt64 { v < 0 ? UInt64.max : UInt64(v) }
            return (ContainerValidation.rlimitNames[key]!, value(u.soft), value(u.hard))
        }

        // Init.
        var initPath: String?
        if host.initialize == true {
            guard let found = ContainerPlanner.initBinary(settings) else {
                throw EngineError(.invalidArgument, "Init: no init binary found: install catatonit or tini (looked in "
                               + ContainerPlanner.initCandidates(settings).joined(separator: ", ") + ")")
            }
            initPath = found
        }

        // Environment: containers.conf's, HOSTNAME, TERM with a TTY, the config's, HOME from passwd.
        var env = settings.defaultEnvironment
        ContainerPlanner.setEnv(&env, "HOSTNAME=" + hostname)
        if config.tty { ContainerPlanner.setEnv(&env, "TERM=xterm") }
        for entry in config.env { ContainerPlanner.setEnv(&env, entry) }
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append("HOME=" + user.home) }

        // Sysctls: the request's. containers.conf's default_sysctls are not applied: the runtime
        // writes sysctls after /proc/sys is read-only, so every container would fail to start.
        var sysctls: [String: String] = [:]
        for (key, value) in host.sysctls {
            if key.hasPrefix("net.") && host.networkMode == "host" {
                throw EngineError(.invalidArgument, "sysctl '\(key)' is not allowed in host network namespace")
            }
            sysctls[key] = value
        }

        if host.maskedPaths == nil && !host.privileged { host.maskedPaths = ContainerSpec.maskedPaths }
        if host.readonlyPaths == nil && !host.privileged { host.readonlyPaths = ContainerSpec.readonlyPaths }
        let resources: ContainerSpecInput.Resources
        let cgroups = engine.cgroupManager
        if case .v2(let base) = cgroups {
            // cgroup v2 (ContainerCgroups.Manager): Docker's checks, then the delegation's.
            (resources, warnings) = try ContainerPlanner.cgroupV2Resources(
                host, pidsLimit: host.pidsLimit, warnings: warnings, base: base, controllers: CgroupHost.controllers(of: base))
        } else if cgroups == .v1 {
            // As root on cgroup v1 the runtime applies them: Docker's checks and defaults first.
            (resources, warnings) = try ContainerPlanner.cgroupResources(host, warnings: warnings)
        } else if cgroups == .disabled {
            resources = ContainerPlanner.recordedResources(host)
            if host.memory != 0 || host.nanoCpus != 0 || host.cpuShares != 0 || host.cpuQuota != 0 || host.memorySwap > 0
                || !host.cpusetCpus.isEmpty || (host.pidsLimit ?? 0) > 0 || host.blkioWeight != 0 {
                warnings.append("Resource limits are recorded but not applied: cgroups are disabled (containers.conf cgroups = \"disabled\")")
            }
        } else {
            resources = ContainerPlanner.recordedResources(host)
            if host.memory != 0 || host.nanoCpus != 0 || host.cpuShares != 0 || host.cpuQuota != 0 || host.memorySwap > 0
                || !host.cpusetCpus.isEmpty || (host.pidsLimit ?? 0) > 0 || host.blkioWeight != 0 {
                warnings.append("Resource limits are recorded but not applied: Skiff does not manage cgroups")
            }
        }

        if host.networkMode == "host", case .object(let ports)? = host.portBindings, !ports.isEmpty {
            warnings.append("Published ports are discarded when using host network mode")
        }
        // cgroup_manager = "systemd" (as Podman): a scope where systemd answers, else cgroupfs
        // with Podman's warning.
        var systemdScope = false
        if case .v2 = cgroups, ContainerCgroups.wantsSystemd(settings["engine.cgroup_manager"]) {
            if let fallback = ContainerCgroups.systemdFallback(isRootless: engine.isRootless) {
                warnings.append(fallback)
            } else {
                systemdScope = true
            }
        }

        request.host = host
        return ProcessPlan(lowerDirs: lowerDirs, user: user, mounts: mounts, capabilities: capabilities, rlimits: rlimits,
                           initPath: initPath, env: env, sysctls: sysctls, resources: resources, warnings: warnings,
                           systemdScope: systemdScope)
    }

    /// Step 4: the OCI config.json.
    func buildSpec(_ request: ValidatedRequest, image: ResolvedImage, identity: Identity, process: ProcessPlan) -> Spec {
        let config = request.config
        let host = request.host
        let settings = engine.config
        let security = request.security
        let seccompProfile = request.seccompProfile
        let hostname = identity.hostname
        let containerDir = identity.containerDir
        let command = image.command
        let (env, user, capabilities, rlimits) = (process.env, process.user, process.capabilities, process.rlimits)
        let (lowerDirs, mounts, initPath, sysctls, resources) = (process.lowerDirs, process.mounts, process.initPath,
                                                                 process.sysctls, process.resources)
        let rootless = engine.isRootless
        let input = ContainerSpecInput(
            args: command, env: env, cwd: config.workingDir.isEmpty ? "/" : config.workingDir, user: user,
            terminal: config.tty, capabilities: capabilities, rlimits: rlimits, noNewPrivileges: security.noNewPrivileges,
            hostname: hostname, domainname: config.domainname, readonlyRoot: host.readonlyRootfs, lowerDirs: lowerDirs,
            containerDir: containerDir, volatileRoot: host.autoRemove && !settings.disableVolatile,
            networkMode: host.networkMode, pidHost: host.pidMode == "host",
            ipcHost: host.ipcMode == "host", utsHost: host.utsMode == "host",
            cgroupnsHost: host.cgroupnsMode == "host", userNamespace: rootless,
            privileged: host.privileged, shmSize: host.shmSize, maskedPaths: host.maskedPaths,
            readonlyPaths: host.readonlyPaths,
            seccomp: seccompProfile?.oci(for: .host(capabilities: capabilities)),
            sysctls: sysctls, annotations: ContainerSpec.labelAnnotations(host.annotations, options: security.labels,
                                                                   enabled: settings.labelsEnabled && !host.privileged)
                .merging(["run.skiff.create-cwd": "true"]) { given, _ in given }
                .merging(engine.cgroupManager == .disabled ? [ContainerCgroups.disabledAnnotation: "disabled"] : [:]) { _, ours in ours }
                .merging(process.systemdScope ? [ContainerCgroups.systemdAnnotation: "systemd"] : [:]) { _, ours in ours }
                .merging(seccompProfile != nil && settings.explainDenials ? [ContainerPlanner.explainAnnotation: "true"] : [:]) { given, _ in given }
                .merging(security.seccompLearn.map { [ContainerPlanner.learnAnnotation: $0] } ?? [:]) { given, _ in given },
            oomScoreAdj: host.oomScoreAdj, mounts: mounts,
            initPath: initPath,
            pidsLimit: (host.pidsLimit ?? 0) > 0 ? host.pidsLimit
                : (settings.pidsLimit > 0 && ContainerCgroups.offers(engine.cgroupManager, "pids") ? Int64(settings.pidsLimit) : nil),
            resources: resources)
        let spec = ContainerSpec.build(input)
        return spec
    }

    /// Step 5: the stored configuration (what inspect shows) and the plan `commit` records and writes.
    func buildRecord(_ validated: ValidatedRequest, image: ResolvedImage, identity: Identity, process: ProcessPlan,
                     spec: Spec) -> ContainerPlan {
        var request = validated.request
        let config = validated.config
        let host = validated.host
        let command = image.command
        let mounts = process.mounts
        let lowerDirs = process.lowerDirs
        let containerDir = identity.containerDir
        let hostname = identity.hostname
        let runDir = identity.runDir
        request.config = config
        request.hostConfig = host
        let path = command[0]
        let created = now()
        let createdNanos = Int64(created.tv_sec) * 1_000_000_000 + Int64(created.tv_nsec)
        let volumes = mounts.filter { $0.kind == .volume }
        var graph: [JSON.Member] = []
        if !lowerDirs.isEmpty { graph.append(JSON.Member("LowerDir", .string(lowerDirs.joined(separator: ":")))) }
        graph += [JSON.Member("MergedDir", .string(containerDir + "/rootfs")),
                  JSON.Member("UpperDir", .string(containerDir + "/upper")),
                  JSON.Member("WorkDir", .string(containerDir + "/work"))]
        let stored: JSON = .object([
            JSON.Member("Version", 1),
            JSON.Member("Created", .string(Timestamp.rfc3339Nano(created, utc: true))),
            JSON.Member("Path", .string(path)),
            JSON.Member("Args", JSON(Array(command.dropFirst()))),
            JSON.Member("Config", config.json),
            JSON.Member("HostConfig", host.json),
            JSON.Member("Mounts", .array(mounts.filter(\.shownInInspect).map(\.inspect))),
            JSON.Member("Volumes", .array(volumes.map { .object([JSON.Member("Name", .string($0.volumeName)),
                                                                 JSON.Member("Anonymous", .bool($0.anonymous))]) })),
            JSON.Member("ResolvConfPath", .string(containerDir + "/resolv.conf")),
            JSON.Member("HostnamePath", .string(containerDir + "/hostname")),
            JSON.Member("HostsPath", .string(containerDir + "/hosts")),
            JSON.Member("LogPath", .string(containerDir + "/ctr.log")),
            JSON.Member("RunDirectory", .string(runDir)),
            JSON.Member("Bundle", .string(containerDir)),
            JSON.Member("GraphDriver", .object([JSON.Member("Data", .object(graph)), JSON.Member("Name", "overlay")])),
            JSON.Member("Platform", "linux"),
            JSON.Member("ProcessLabel", ""),
            JSON.Member("MountLabel", ""),
            JSON.Member("AppArmorProfile", ""),
            JSON.Member("Endpoints", JSON(request.endpoints)),
            // The client's settings for the predefined network of its mode, echoed by inspect.
            JSON.Member("EndpointSettings", request.endpointSettings[host.networkMode]?.echo ?? .object([])),
        ])

        return ContainerPlan(
            id: identity.id, name: identity.name, imageID: image.image.id, imageName: config.image, created: createdNanos,
            warnings: process.warnings, containerDir: containerDir, lowerDirs: lowerDirs, mounts: mounts, labels: config.labels,
            spec: spec, stored: stored, hostnameFile: hostname + "\n",
            hostsFile: validated.joined.flatMap { ContainerNetworkMode.etcFile("hosts", of: $0, engine: engine) }
                ?? hostsFile(networkMode: host.networkMode, hostname: hostname, domainname: config.domainname,
                             extraHosts: validated.extraHosts, network: validated.network, pasta: validated.pasta,
                             lowerDirs: lowerDirs),
            resolvConf: validated.joined.flatMap { ContainerNetworkMode.etcFile("resolv.conf", of: $0, engine: engine) }
                ?? resolvConf(host, network: validated.network, pasta: validated.pasta,
                              gateway: validated.joins.first?.network.gateway), autoRemove: host.autoRemove, joins: validated.joins)
    }
}
