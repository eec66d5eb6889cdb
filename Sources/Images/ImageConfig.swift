import Platform

/// An OCI / Docker image configuration: what to run, on which platform, and the uncompressed
/// layer digests (`rootfs.diff_ids`) the image id stands for.
///
/// Reading keeps the fields Skiff uses; a pulled image's id is the digest of the bytes the
/// registry served, not of `bytes` written back. `bytes` is for configs Skiff makes itself
/// (`docker import`), whose id is then `id`.
public struct ImageConfig: Sendable, Equatable {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    /// RFC 3339, as written.
    public var created: String?
    public var author: String?
    public var config: Container?
    public var rootfs: RootFS
    public var history: [History]

    /// Larger configs are refused before parsing.
    public static let maximumSize = 4 << 20

    /// The runtime defaults of the image (`config` in the document; Docker's field names).
    public struct Container: Sendable, Equatable {
        public var user: String?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var workingDir: String?
        public var labels: [String: String]?
        /// `ExposedPorts` keys ("80/tcp"), sorted.
        public var exposedPorts: [String]?
        /// `Volumes` keys, sorted.
        public var volumes: [String]?
        public var stopSignal: String?
        public var healthcheck: Healthcheck?
        /// `OnBuild`: the triggers a build FROM this image runs (Dockerfile lines).
        public var onBuild: [String]?

        public init(user: String? = nil, env: [String]? = nil, entrypoint: [String]? = nil, cmd: [String]? = nil,
                    workingDir: String? = nil, labels: [String: String]? = nil, exposedPorts: [String]? = nil,
                    volumes: [String]? = nil, stopSignal: String? = nil, healthcheck: Healthcheck? = nil,
                    onBuild: [String]? = nil) {
            self.user = user
            self.env = env
            self.entrypoint = entrypoint
            self.cmd = cmd
            self.workingDir = workingDir
            self.labels = labels
            self.exposedPorts = exposedPorts
            self.volumes = volumes
            self.stopSignal = stopSignal
            self.healthcheck = healthcheck
            self.onBuild = onBuild
        }
    }

    /// Docker's `Healthcheck`; durations in nanoseconds.
    public struct Healthcheck: Sendable, Equatable {
        public var test: [String]?
        public var interval: Int64?
        public var timeout: Int64?
        public var startPeriod: Int64?
        public var startInterval: Int64?
        public var retries: Int64?

        public init(test: [String]? = nil, interval: Int64? = nil, timeout: Int64? = nil, startPeriod: Int64? = nil,
                    startInterval: Int64? = nil, retries: Int64? = nil) {
            self.test = test
            self.interval = interval
            self.timeout = timeout
            self.startPeriod = startPeriod
            self.startInterval = startInterval
            self.retries = retries
        }
    }

    public struct RootFS: Sendable, Equatable {
        /// Always "layers".
        public var type: String
        public var diffIDs: [Digest]

        public init(diffIDs: [Digest]) {
            self.type = "layers"
            self.diffIDs = diffIDs
        }
    }

    public struct History: Sendable, Equatable {
        public var created: String?
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        public var emptyLayer: Bool

        public init(created: String? = nil, createdBy: String? = nil, author: String? = nil,
                    comment: String? = nil, emptyLayer: Bool = false) {
            self.created = created
            self.createdBy = createdBy
            self.author = author
            self.comment = comment
            self.emptyLayer = emptyLayer
        }
    }

    public init(architecture: String, os: String, variant: String? = nil, osVersion: String? = nil,
                created: String? = nil, author: String? = nil, config: Container? = nil,
                rootfs: RootFS, history: [History] = []) {
        self.architecture = architecture
        self.os = os
        self.variant = variant
        self.osVersion = osVersion
        self.created = created
        self.author = author
        self.config = config
        self.rootfs = rootfs
        self.history = history
    }

    /// The config `docker import` makes for a single-layer image; the `changes` (CMD, ENV...)
    /// are applied to `config` afterwards by the caller.
    public static func imported(diffID: Digest, os: String, architecture: String, variant: String? = nil,
                                created: String, env: [String]? = nil, cmd: [String]? = nil,
                                comment: String? = nil) -> ImageConfig {
        let config: Container? = (env == nil && cmd == nil) ? nil : Container(env: env, cmd: cmd)
        return ImageConfig(
            architecture: architecture, os: os, variant: variant, created: created, config: config,
            rootfs: RootFS(diffIDs: [diffID]),
            history: [History(created: created, createdBy: nil, comment: comment ?? "Imported from -")])
    }

    // MARK: - Reading

    /// Reads a config, checking the size, every diff_id, and that the non-empty history
    /// entries, when there is history, are as many as the layers.
    public static func read(_ bytes: [UInt8]) throws(ImageError) -> ImageConfig {
        let r = FieldReader(source: "image config")
        let json = try r.parse(bytes, limit: maximumSize)
        let rootfsJSON = try r.required(json, "rootfs", "")
        _ = try r.object(rootfsJSON, "rootfs")
        let type = try r.string(r.required(rootfsJSON, "type", "rootfs"), "rootfs.type")
        guard type == "layers" else { throw r.fail("rootfs.type", "expected \"layers\", found \"\(type)\"") }
        var diffIDs: [Digest] = []
        for (i, element) in (try r.optionalArray(rootfsJSON, "diff_ids", "rootfs") ?? []).enumerated() {
            diffIDs.append(try r.digest(element, "rootfs.diff_ids[\(i)]"))
        }
        var history: [History] = []
        for (i, element) in (try r.optionalArray(json, "history", "") ?? []).enumerated() {
            let p = "history[\(i)]"
            _ = try r.object(element, p)
            history.append(History(created: try r.optionalString(element, "created", p),
                                   createdBy: try r.optionalString(element, "created_by", p),
                                   author: try r.optionalString(element, "author", p),
                                   comment: try r.optionalString(element, "comment", p),
                                   emptyLayer: try r.optionalBool(element, "empty_layer", p) ?? false))
        }
        let layersInHistory = history.filter { !$0.emptyLayer }.count
        if !history.isEmpty && layersInHistory != diffIDs.count {
            throw r.fail("history", "\(layersInHistory) entries without empty_layer for \(diffIDs.count) diff_ids")
        }
        return ImageConfig(
            architecture: try r.string(r.required(json, "architecture", ""), "architecture"),
            os: try r.string(r.required(json, "os", ""), "os"),
            variant: try r.optionalString(json, "variant", ""),
            osVersion: try r.optionalString(json, "os.version", ""),
            created: try r.optionalString(json, "created", ""),
            author: try r.optionalString(json, "author", ""),
            config: try r.member(json, "config").map { (value) throws(ImageError) in try r.container(value, "config") },
            rootfs: RootFS(diffIDs: diffIDs),
            history: history)
    }

    // MARK: - Writing

    /// The document with its keys sorted at every level (Go sorts map keys the same way), and
    /// absent fields left out: the same config always gives the same bytes.
    public var json: JSON {
        var members: [JSON.Member] = [JSON.Member("architecture", .string(architecture))]
        if let author { members.append(JSON.Member("author", .string(author))) }
        if let config { members.append(JSON.Member("config", config.json)) }
        if let created { members.append(JSON.Member("created", .string(created))) }
        if !history.isEmpty { members.append(JSON.Member("history", .array(history.map(\.json)))) }
        members.append(JSON.Member("os", .string(os)))
        if let osVersion { members.append(JSON.Member("os.version", .string(osVersion))) }
        members.append(JSON.Member("rootfs", [
            "diff_ids": .array(rootfs.diffIDs.map { .string($0.description) }),
            "type": .string(rootfs.type),
        ]))
        if let variant { members.append(JSON.Member("variant", .string(variant))) }
        return .object(members)
    }

    /// The canonical bytes of `json`.
    public var bytes: [UInt8] { json.bytes }

    /// The image id of a config Skiff wrote: the digest of `bytes`.
    public var id: Digest { Digest.sha256(of: bytes) }
}

extension ImageConfig.Container {
    /// Docker's `ContainerConfig` names, absent fields left out.
    public var json: JSON {
        func strings(_ values: [String]) -> JSON { .array(values.map(JSON.string)) }
        func set(_ keys: [String]) -> JSON { .object(keys.sorted().map { JSON.Member($0, .object([])) }) }
        var members: [JSON.Member] = []
        if let cmd { members.append(JSON.Member("Cmd", strings(cmd))) }
        if let entrypoint { members.append(JSON.Member("Entrypoint", strings(entrypoint))) }
        if let env { members.append(JSON.Member("Env", strings(env))) }
        if let exposedPorts { members.append(JSON.Member("ExposedPorts", set(exposedPorts))) }
        if let healthcheck { members.append(JSON.Member("Healthcheck", healthcheck.json)) }
        if let labels {
            members.append(JSON.Member("Labels", .object(labels.keys.sorted().map { JSON.Member($0, .string(labels[$0]!)) })))
        }
        if let onBuild { members.append(JSON.Member("OnBuild", strings(onBuild))) }
        if let stopSignal { members.append(JSON.Member("StopSignal", .string(stopSignal))) }
        if let user { members.append(JSON.Member("User", .string(user))) }
        if let volumes { members.append(JSON.Member("Volumes", set(volumes))) }
        if let workingDir { members.append(JSON.Member("WorkingDir", .string(workingDir))) }
        return .object(members)
    }
}

extension ImageConfig.Healthcheck {
    public var json: JSON {
        var members: [JSON.Member] = []
        if let interval { members.append(JSON.Member("Interval", .int(interval))) }
        if let retries { members.append(JSON.Member("Retries", .int(retries))) }
        if let startInterval { members.append(JSON.Member("StartInterval", .int(startInterval))) }
        if let startPeriod { members.append(JSON.Member("StartPeriod", .int(startPeriod))) }
        if let test { members.append(JSON.Member("Test", .array(test.map(JSON.string)))) }
        if let timeout { members.append(JSON.Member("Timeout", .int(timeout))) }
        return .object(members)
    }
}

extension ImageConfig.History {
    var json: JSON {
        var members: [JSON.Member] = []
        if let author { members.append(JSON.Member("author", .string(author))) }
        if let comment { members.append(JSON.Member("comment", .string(comment))) }
        if let created { members.append(JSON.Member("created", .string(created))) }
        if let createdBy { members.append(JSON.Member("created_by", .string(createdBy))) }
        if emptyLayer { members.append(JSON.Member("empty_layer", .bool(true))) }
        return .object(members)
    }
}

extension FieldReader {
    func container(_ json: JSON, _ p: String) throws(ImageError) -> ImageConfig.Container {
        _ = try object(json, p)
        var healthcheck: ImageConfig.Healthcheck?
        if let value = member(json, "Healthcheck") {
            let h = p + ".Healthcheck"
            _ = try object(value, h)
            func duration(_ key: String) throws(ImageError) -> Int64? {
                guard let v = member(value, key) else { return nil }
                return try int64(v, h + "." + key)
            }
            healthcheck = ImageConfig.Healthcheck(
                test: try optionalStrings(value, "Test", h), interval: try duration("Interval"),
                timeout: try duration("Timeout"), startPeriod: try duration("StartPeriod"),
                startInterval: try duration("StartInterval"), retries: try duration("Retries"))
        }
        return ImageConfig.Container(
            user: try optionalString(json, "User", p),
            env: try optionalStrings(json, "Env", p),
            entrypoint: try optionalStrings(json, "Entrypoint", p),
            cmd: try optionalStrings(json, "Cmd", p),
            workingDir: try optionalString(json, "WorkingDir", p),
            labels: try optionalStringMap(json, "Labels", p),
            exposedPorts: try optionalKeySet(json, "ExposedPorts", p),
            volumes: try optionalKeySet(json, "Volumes", p),
            stopSignal: try optionalString(json, "StopSignal", p),
            healthcheck: healthcheck,
            onBuild: try optionalStrings(json, "OnBuild", p))
    }
}
