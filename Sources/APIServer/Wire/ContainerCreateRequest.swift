import Platform

/// The body of `POST /containers/create` (moby's `container.CreateRequest`: the `Config` fields
/// at the top level, `HostConfig`, `NetworkingConfig`), decoded strictly as Go's encoding/json
/// decodes it: field names match case-insensitively, `null` is the zero value, unknown fields
/// are ignored, and a value of the wrong type is a 400 naming the field and the Go type.
struct CreateRequest: Sendable, Equatable {
    var config = ContainerConfig()
    var hostConfig = HostConfig()
    /// `NetworkingConfig.EndpointsConfig` keys (network names the client asked for).
    var endpoints: [String] = []
    /// What the client asked for on each of them (aliases, a static address).
    var endpointSettings: [String: EndpointSettingsRequest] = [:]

    /// moby's `container.Config`.
    struct ContainerConfig: Sendable, Equatable {
        var hostname = ""
        var domainname = ""
        var user = ""
        var attachStdin = false
        var attachStdout = false
        var attachStderr = false
        /// `ExposedPorts` keys ("80/tcp").
        var exposedPorts: [String] = []
        var tty = false
        var openStdin = false
        var stdinOnce = false
        var env: [String] = []
        /// nil: not given (the image's); [] given empty.
        var cmd: [String]?
        var healthcheck: Healthcheck?
        var argsEscaped = false
        var image = ""
        /// `Volumes` keys (container paths of anonymous volumes).
        var volumes: [String] = []
        var workingDir = ""
        var entrypoint: [String]?
        var networkDisabled = false
        var onBuild: [String]?
        var labels: [String: String] = [:]
        var stopSignal = ""
        var stopTimeout: Int?
        var shell: [String]?
    }

    /// Docker's `HealthConfig`; durations in nanoseconds.
    struct Healthcheck: Sendable, Equatable {
        var test: [String]?
        var interval: Int64 = 0
        var timeout: Int64 = 0
        var startPeriod: Int64 = 0
        var startInterval: Int64 = 0
        var retries: Int = 0
    }

    /// moby's `mount.Mount` (the `Mounts` list).
    struct Mount: Sendable, Equatable {
        var type = ""
        var source = ""
        var target = ""
        var readOnly = false
        var consistency = ""
        var bindOptions: BindOptions?
        var volumeOptions: VolumeOptions?
        var tmpfsOptions: TmpfsOptions?
        /// Options of types Skiff does not serve (image, npipe, cluster): only their presence counts.
        var otherOptions: [String] = []
    }

    struct BindOptions: Sendable, Equatable {
        var propagation = ""
        var nonRecursive = false
        var createMountpoint = false
        var readOnlyNonRecursive = false
        var readOnlyForceRecursive = false
    }

    struct VolumeOptions: Sendable, Equatable {
        var noCopy = false
        var labels: [String: String] = [:]
        var subpath = ""
        var driver = ""
    }

    struct TmpfsOptions: Sendable, Equatable {
        var sizeBytes: Int64 = 0
        var mode: UInt32 = 0
        var options: [[String]] = []
    }

    struct Ulimit: Sendable, Equatable {
        var name: String
        var soft: Int64
        var hard: Int64
    }

    struct RestartPolicy: Sendable, Equatable {
        var name = ""
        var maximumRetryCount = 0
    }

    /// moby's `container.HostConfig` (with `Resources` inlined, as on the wire).
    struct HostConfig: Sendable, Equatable {
        var binds: [String] = []
        var containerIDFile = ""
        var logType = ""
        var logConfig: [String: String] = [:]
        var networkMode = ""
        /// Kept as sent; Skiff publishes no ports.
        var portBindings: JSON?
        var restartPolicy = RestartPolicy()
        var autoRemove = false
        var volumeDriver = ""
        var volumesFrom: [String] = []
        var consoleSize: [Int64] = [0, 0]
        var annotations: [String: String] = [:]
        var capAdd: [String] = []
        var capDrop: [String] = []
        var cgroupnsMode = ""
        var dns: [String] = []
        var dnsOptions: [String] = []
        var dnsSearch: [String] = []
        var extraHosts: [String] = []
        var groupAdd: [String] = []
        var ipcMode = ""
        var cgroup = ""
        var links: [String] = []
        var oomScoreAdj = 0
        var pidMode = ""
        var privileged = false
        var publishAllPorts = false
        var readonlyRootfs = false
        var securityOpt: [String] = []
        var storageOpt: [String: String] = [:]
        var tmpfs: [String: String] = [:]
        var utsMode = ""
        var usernsMode = ""
        var shmSize: Int64 = 0
        var sysctls: [String: String] = [:]
        var runtime = ""
        var isolation = ""
        var maskedPaths: [String]?
        var readonlyPaths: [String]?
        var initialize: Bool?
        var mounts: [Mount] = []
        // Resources (recorded and echoed; Skiff does not manage cgroups).
        var cpuShares: Int64 = 0
        var memory: Int64 = 0
        var nanoCpus: Int64 = 0
        var cgroupParent = ""
        var blkioWeight: Int64 = 0
        var cpuPeriod: Int64 = 0
        var cpuQuota: Int64 = 0
        var cpuRealtimePeriod: Int64 = 0
        var cpuRealtimeRuntime: Int64 = 0
        var cpusetCpus = ""
        var cpusetMems = ""
        var memoryReservation: Int64 = 0
        var memorySwap: Int64 = 0
        var memorySwappiness: Int64?
        var oomKillDisable: Bool?
        var pidsLimit: Int64?
        var ulimits: [Ulimit] = []
        var devices: JSON?
    }
}

// MARK: - Decoding

extension CreateRequest {
    /// Decodes a request body; errors are moby's 400s (`invalid JSON: ...`,
    /// `config cannot be empty in order to create a container`).
    static func decode(_ body: [UInt8]) throws -> CreateRequest {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw EngineError(.invalidArgument, "invalid JSON: got EOF while reading request body")
        }
        let json: JSON
        do {
            json = try JSONParser.parse(body)
        } catch {
            // moby decodes one value and then refuses anything after it.
            if error.message.contains("after the end of the JSON value") {
                throw EngineError(.invalidArgument, "unexpected content after JSON")
            }
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        // moby's wrapper embeds the Config: with none of its fields it stays nil.
        let wrapperOnly: Set<String> = ["hostconfig", "networkingconfig"]
        if json == .null || (json.objectKeys.map { $0.allSatisfy { wrapperOnly.contains($0.lowercased()) } } ?? false) {
            throw EngineError(.invalidArgument, "config cannot be empty in order to create a container")
        }
        let d = GoDecoder(root: "CreateRequest")
        let top = try d.object(json, "")
        var request = CreateRequest()
        request.config = try d.containerConfig(top)
        if let host = top["hostconfig"] {
            request.hostConfig = try d.hostConfig(try d.object(host, "HostConfig"))
        }
        if let networking = top["networkingconfig"] {
            let n = try d.object(networking, "NetworkingConfig")
            if let endpoints = n["endpointsconfig"] {
                let fields = try d.object(endpoints, "NetworkingConfig.EndpointsConfig")
                request.endpoints = fields.keys.sorted()
                if case .object(let members) = endpoints {
                    for member in members where member.value != .null {
                        request.endpointSettings[member.key] = try EndpointSettingsRequest.decode(
                            member.value, d, path: "NetworkingConfig.EndpointsConfig")
                    }
                }
            }
        }
        return request
    }
}

/// An object's members by lower-cased key (Go matches field names case-insensitively; a later
/// member wins), without nulls (Go leaves the field at its zero value).
struct Fields {
    var members: [String: JSON] = [:]
    var keys: [String] = []

    subscript(key: String) -> JSON? { members[key] }
}

/// Reads JSON into typed fields with Go's error text:
/// `invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.Tty of type bool`.
struct GoDecoder {
    let root: String

    func fail(_ value: JSON, _ path: String, _ goType: String) -> EngineError {
        let kind: String
        switch value {
        case .string: kind = "string"
        case .bool: kind = "bool"
        case .array: kind = "array"
        case .object: kind = "object"
        case .int(let n): kind = "number \(n)"
        case .uint(let n): kind = "number \(n)"
        case .double(let d): kind = "number \(d)"
        case .null: kind = "null"
        }
        let field = path.isEmpty ? "Go value" : "Go struct field \(root).\(path)"
        return EngineError(.invalidArgument, "invalid JSON: json: cannot unmarshal \(kind) into \(field) of type \(goType)")
    }

    func object(_ json: JSON, _ path: String, goType: String = "struct") throws -> Fields {
        guard case .object(let members) = json else {
            throw fail(json, path, path.isEmpty ? "container.CreateRequest" : goType)
        }
        var fields = Fields()
        for member in members {
            let key = member.key.lowercased()
            if member.value == .null {
                fields.members[key] = nil
                continue
            }
            if fields.members[key] == nil { fields.keys.append(member.key) }
            fields.members[key] = member.value
        }
        fields.keys = fields.keys.filter { fields.members[$0.lowercased()] != nil }
        return fields
    }

    func string(_ f: Fields, _ key: String, _ path: String) throws -> String {
        guard let value = f[key.lowercased()] else { return "" }
        guard case .string(let s) = value else { throw fail(value, join(path, key), "string") }
        return s
    }

    func bool(_ f: Fields, _ key: String, _ path: String) throws -> Bool {
        try optionalBool(f, key, path) ?? false
    }

    func optionalBool(_ f: Fields, _ key: String, _ path: String) throws -> Bool? {
        guard let value = f[key.lowercased()] else { return nil }
        guard case .bool(let b) = value else { throw fail(value, join(path, key), "bool") }
        return b
    }

    func int64(_ f: Fields, _ key: String, _ path: String) throws -> Int64 {
        try optionalInt64(f, key, path) ?? 0
    }

    func optionalInt64(_ f: Fields, _ key: String, _ path: String, goType: String = "int64") throws -> Int64? {
        guard let value = f[key.lowercased()] else { return nil }
        switch value {
        case .int(let n): return n
        case .double(let d) where d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
        default: throw fail(value, join(path, key), goType)
        }
    }

    func strings(_ f: Fields, _ key: String, _ path: String) throws -> [String] {
        try optionalStrings(f, key, path) ?? []
    }

    func optionalStrings(_ f: Fields, _ key: String, _ path: String) throws -> [String]? {
        guard let value = f[key.lowercased()] else { return nil }
        guard case .array(let elements) = value else { throw fail(value, join(path, key), "[]string") }
        return try elements.map { element in
            guard case .string(let s) = element else { throw fail(element, join(path, key), "string") }
            return s
        }
    }

    /// moby's `StrSlice` (Cmd, Entrypoint, Shell): a list, or one string.
    func strSlice(_ f: Fields, _ key: String, _ path: String) throws -> [String]? {
        guard let value = f[key.lowercased()] else { return nil }
        if case .string(let s) = value { return [s] }
        guard case .array(let elements) = value else { throw fail(value, join(path, key), "strslice.StrSlice") }
        return try elements.map { element in
            guard case .string(let s) = element else { throw fail(element, join(path, key), "string") }
            return s
        }
    }

    func stringMap(_ f: Fields, _ key: String, _ path: String) throws -> [String: String] {
        guard let value = f[key.lowercased()] else { return [:] }
        guard case .object(let members) = value else { throw fail(value, join(path, key), "map[string]string") }
        var result: [String: String] = [:]
        for member in members {
            switch member.value {
            case .string(let s): result[member.key] = s
            case .null: result[member.key] = ""
            default: throw fail(member.value, join(path, key), "string")
            }
        }
        return result
    }

    /// `map[string]struct{}`: the keys.
    func keySet(_ f: Fields, _ key: String, _ path: String) throws -> [String] {
        guard let value = f[key.lowercased()] else { return [] }
        guard case .object(let members) = value else { throw fail(value, join(path, key), "map[string]struct {}") }
        return Array(Set(members.map(\.key))).sorted()
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    // MARK: Config

    func containerConfig(_ f: Fields) throws -> CreateRequest.ContainerConfig {
        var c = CreateRequest.ContainerConfig()
        c.hostname = try string(f, "Hostname", "")
        c.domainname = try string(f, "Domainname", "")
        c.user = try string(f, "User", "")
        c.attachStdin = try bool(f, "AttachStdin", "")
        c.attachStdout = try bool(f, "AttachStdout", "")
        c.attachStderr = try bool(f, "AttachStderr", "")
        c.exposedPorts = try keySet(f, "ExposedPorts", "")
        c.tty = try bool(f, "Tty", "")
        c.openStdin = try bool(f, "OpenStdin", "")
        c.stdinOnce = try bool(f, "StdinOnce", "")
        c.env = try strings(f, "Env", "")
        c.cmd = try strSlice(f, "Cmd", "")
        if let value = f["healthcheck"] {
            let h = try object(value, "Healthcheck", goType: "container.HealthConfig")
            var health = CreateRequest.Healthcheck()
            health.test = try optionalStrings(h, "Test", "Healthcheck")
            health.interval = try int64(h, "Interval", "Healthcheck")
            health.timeout = try int64(h, "Timeout", "Healthcheck")
            health.startPeriod = try int64(h, "StartPeriod", "Healthcheck")
            health.startInterval = try int64(h, "StartInterval", "Healthcheck")
            health.retries = Int(try optionalInt64(h, "Retries", "Healthcheck", goType: "int") ?? 0)
            c.healthcheck = health
        }
        c.argsEscaped = try bool(f, "ArgsEscaped", "")
        c.image = try string(f, "Image", "")
        c.volumes = try keySet(f, "Volumes", "")
        c.workingDir = try string(f, "WorkingDir", "")
        c.entrypoint = try strSlice(f, "Entrypoint", "")
        c.networkDisabled = try bool(f, "NetworkDisabled", "")
        c.onBuild = try optionalStrings(f, "OnBuild", "")
        c.labels = try stringMap(f, "Labels", "")
        c.stopSignal = try string(f, "StopSignal", "")
        c.stopTimeout = try optionalInt64(f, "StopTimeout", "", goType: "int").map { Int($0) }
        c.shell = try strSlice(f, "Shell", "")
        return c
    }

    // MARK: HostConfig

    func hostConfig(_ f: Fields) throws -> CreateRequest.HostConfig {
        let p = "HostConfig"
        var h = CreateRequest.HostConfig()
        h.binds = try strings(f, "Binds", p)
        h.containerIDFile = try string(f, "ContainerIDFile", p)
        if let value = f["logconfig"] {
            let l = try object(value, p + ".LogConfig", goType: "container.LogConfig")
            h.logType = try string(l, "Type", p + ".LogConfig")
            h.logConfig = try stringMap(l, "Config", p + ".LogConfig")
        }
        h.networkMode = try string(f, "NetworkMode", p)
        if let value = f["portbindings"] {
            guard case .object = value else { throw fail(value, p + ".PortBindings", "nat.PortMap") }
            h.portBindings = value
        }
        if let value = f["restartpolicy"] {
            let r = try object(value, p + ".RestartPolicy", goType: "container.RestartPolicy")
            h.restartPolicy.name = try string(r, "Name", p + ".RestartPolicy")
            h.restartPolicy.maximumRetryCount = Int(try optionalInt64(r, "MaximumRetryCount", p + ".RestartPolicy", goType: "int") ?? 0)
        }
        h.autoRemove = try bool(f, "AutoRemove", p)
        h.volumeDriver = try string(f, "VolumeDriver", p)
        h.volumesFrom = try strings(f, "VolumesFrom", p)
        if let value = f["consolesize"] {
            guard case .array(let sizes) = value, sizes.count == 2 else { throw fail(value, p + ".ConsoleSize", "[2]uint") }
            h.consoleSize = try sizes.map { size in
                guard case .int(let n) = size, n >= 0 else { throw fail(size, p + ".ConsoleSize", "uint") }
                return n
            }
        }
        h.annotations = try stringMap(f, "Annotations", p)
        h.capAdd = try strSlice(f, "CapAdd", p) ?? []
        h.capDrop = try strSlice(f, "CapDrop", p) ?? []
        h.cgroupnsMode = try string(f, "CgroupnsMode", p)
        h.dns = try strings(f, "Dns", p)
        h.dnsOptions = try strings(f, "DnsOptions", p)
        h.dnsSearch = try strings(f, "DnsSearch", p)
        h.extraHosts = try strings(f, "ExtraHosts", p)
        h.groupAdd = try strings(f, "GroupAdd", p)
        h.ipcMode = try string(f, "IpcMode", p)
        h.cgroup = try string(f, "Cgroup", p)
        h.links = try strings(f, "Links", p)
        h.oomScoreAdj = Int(try optionalInt64(f, "OomScoreAdj", p, goType: "int") ?? 0)
        h.pidMode = try string(f, "PidMode", p)
        h.privileged = try bool(f, "Privileged", p)
        h.publishAllPorts = try bool(f, "PublishAllPorts", p)
        h.readonlyRootfs = try bool(f, "ReadonlyRootfs", p)
        h.securityOpt = try strings(f, "SecurityOpt", p)
        h.storageOpt = try stringMap(f, "StorageOpt", p)
        h.tmpfs = try stringMap(f, "Tmpfs", p)
        h.utsMode = try string(f, "UTSMode", p)
        h.usernsMode = try string(f, "UsernsMode", p)
        h.shmSize = try int64(f, "ShmSize", p)
        h.sysctls = try stringMap(f, "Sysctls", p)
        h.runtime = try string(f, "Runtime", p)
        h.isolation = try string(f, "Isolation", p)
        h.maskedPaths = try optionalStrings(f, "MaskedPaths", p)
        h.readonlyPaths = try optionalStrings(f, "ReadonlyPaths", p)
        h.initialize = try optionalBool(f, "Init", p)
        if let value = f["mounts"] {
            guard case .array(let elements) = value else { throw fail(value, p + ".Mounts", "[]mount.Mount") }
            h.mounts = try elements.map { try mount($0, p + ".Mounts") }
        }
        h.cpuShares = try int64(f, "CpuShares", p)
        h.memory = try int64(f, "Memory", p)
        h.nanoCpus = try int64(f, "NanoCpus", p)
        h.cgroupParent = try string(f, "CgroupParent", p)
        h.blkioWeight = try int64(f, "BlkioWeight", p)
        h.cpuPeriod = try int64(f, "CpuPeriod", p)
        h.cpuQuota = try int64(f, "CpuQuota", p)
        h.cpuRealtimePeriod = try int64(f, "CpuRealtimePeriod", p)
        h.cpuRealtimeRuntime = try int64(f, "CpuRealtimeRuntime", p)
        h.cpusetCpus = try string(f, "CpusetCpus", p)
        h.cpusetMems = try string(f, "CpusetMems", p)
        h.memoryReservation = try int64(f, "MemoryReservation", p)
        h.memorySwap = try int64(f, "MemorySwap", p)
        h.memorySwappiness = try optionalInt64(f, "MemorySwappiness", p)
        h.oomKillDisable = try optionalBool(f, "OomKillDisable", p)
        h.pidsLimit = try optionalInt64(f, "PidsLimit", p)
        if let value = f["ulimits"] {
            guard case .array(let elements) = value else { throw fail(value, p + ".Ulimits", "[]*units.Ulimit") }
            h.ulimits = try elements.compactMap { element in
                if element == .null { return nil }
                let u = try object(element, p + ".Ulimits", goType: "units.Ulimit")
                return CreateRequest.Ulimit(name: try string(u, "Name", p + ".Ulimits"),
                                            soft: try int64(u, "Soft", p + ".Ulimits"),
                                            hard: try int64(u, "Hard", p + ".Ulimits"))
            }
        }
        if let value = f["devices"] {
            guard case .array(let elements) = value else { throw fail(value, p + ".Devices", "[]container.DeviceMapping") }
            if !elements.isEmpty { h.devices = value }
        }
        return h
    }

    func mount(_ json: JSON, _ path: String) throws -> CreateRequest.Mount {
        let f = try object(json, path, goType: "mount.Mount")
        var m = CreateRequest.Mount()
        m.type = try string(f, "Type", path)
        m.source = try string(f, "Source", path)
        m.target = try string(f, "Target", path)
        m.readOnly = try bool(f, "ReadOnly", path)
        m.consistency = try string(f, "Consistency", path)
        if let value = f["bindoptions"] {
            let b = try object(value, path + ".BindOptions", goType: "mount.BindOptions")
            let bp = path + ".BindOptions"
            m.bindOptions = CreateRequest.BindOptions(
                propagation: try string(b, "Propagation", bp), nonRecursive: try bool(b, "NonRecursive", bp),
                createMountpoint: try bool(b, "CreateMountpoint", bp),
                readOnlyNonRecursive: try bool(b, "ReadOnlyNonRecursive", bp),
                readOnlyForceRecursive: try bool(b, "ReadOnlyForceRecursive", bp))
        }
        if let value = f["volumeoptions"] {
            let v = try object(value, path + ".VolumeOptions", goType: "mount.VolumeOptions")
            let vp = path + ".VolumeOptions"
            var options = CreateRequest.VolumeOptions(noCopy: try bool(v, "NoCopy", vp), labels: try stringMap(v, "Labels", vp),
                                                      subpath: try string(v, "Subpath", vp))
            if let driver = v["driverconfig"] {
                options.driver = try string(try object(driver, vp + ".DriverConfig", goType: "mount.Driver"), "Name", vp + ".DriverConfig")
            }
            m.volumeOptions = options
        }
        if let value = f["tmpfsoptions"] {
            let t = try object(value, path + ".TmpfsOptions", goType: "mount.TmpfsOptions")
            let tp = path + ".TmpfsOptions"
            var options = CreateRequest.TmpfsOptions()
            options.sizeBytes = try int64(t, "SizeBytes", tp)
            let mode = try optionalInt64(t, "Mode", tp, goType: "fs.FileMode") ?? 0
            guard mode >= 0 && mode <= Int64(UInt32.max) else { throw fail(t["mode"]!, tp + ".Mode", "fs.FileMode") }
            options.mode = UInt32(mode)
            if let raw = t["options"] {
                guard case .array(let outer) = raw else { throw fail(raw, tp + ".Options", "[][]string") }
                options.options = try outer.map { inner in
                    guard case .array(let words) = inner else { throw fail(inner, tp + ".Options", "[]string") }
                    return try words.map { word in
                        guard case .string(let s) = word else { throw fail(word, tp + ".Options", "string") }
                        return s
                    }
                }
            }
            m.tmpfsOptions = options
        }
        for other in ["ImageOptions", "ClusterOptions"] where f[other.lowercased()] != nil {
            m.otherOptions.append(other)
        }
        return m
    }
}

extension JSON {
    /// The member names of an object; nil for anything else.
    var objectKeys: [String]? {
        if case .object(let members) = self { return members.map(\.key) }
        return nil
    }
}
