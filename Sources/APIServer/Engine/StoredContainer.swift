import Platform
import Store

/// What the service keeps of a container in `ContainerRecord.config` (its own JSON, written at
/// create): Docker's `Config` and `HostConfig` as inspect shows them, the resolved `Path`/`Args`,
/// the mount points, and the paths of the container's files. Start, attach, wait, rm and the
/// monitor's arguments read it through these accessors.
///
/// Layout (version 1): `{"Version":1, "Path", "Args", "Config", "HostConfig", "Mounts",
/// "Volumes":[{"Name","Anonymous"}], "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath",
/// "GraphDriver", "Platform", "ProcessLabel", "MountLabel", "AppArmorProfile", "Bundle"}`.
public struct StoredContainer: Sendable, Equatable {
    public var json: JSON

    public init(json: JSON) {
        self.json = json
    }

    /// Reads `record.config`; an unreadable config is a 500 naming the container.
    public init(_ record: ContainerRecord) throws {
        do {
            json = try JSONParser.parse(record.config)
        } catch {
            throw EngineError(.internal, "container \(record.id): stored configuration is not readable: \(error)")
        }
    }

    public var config: JSON { json["Config"] ?? .object([]) }
    public var hostConfig: JSON { json["HostConfig"] ?? .object([]) }

    /// The program inspect shows as `Path` and its `Args`.
    public var path: String { string(json["Path"]) }
    public var args: [String] { strings(json["Args"]) }

    public var tty: Bool { bool(config["Tty"]) }
    public var openStdin: Bool { bool(config["OpenStdin"]) }
    public var stdinOnce: Bool { bool(config["StdinOnce"]) }
    public var attachStdin: Bool { bool(config["AttachStdin"]) }
    public var attachStdout: Bool { bool(config["AttachStdout"]) }
    public var attachStderr: Bool { bool(config["AttachStderr"]) }
    public var autoRemove: Bool { bool(hostConfig["AutoRemove"]) }
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    public var restartPolicyName: String {
        let name = string(hostConfig["RestartPolicy"]?["Name"])
        return name.isEmpty ? "no" : name
    }
    public var restartMaximumRetryCount: Int { Int(int(hostConfig["RestartPolicy"]?["MaximumRetryCount"])) }
    /// The monitor's `--restart` argument: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    public var restartArgument: String {
        let name = restartPolicyName
        if name == "on-failure" && restartMaximumRetryCount > 0 { return "on-failure:\(restartMaximumRetryCount)" }
        return name
    }
    /// As given or from the image; `SIGTERM` when neither set one.
    public var stopSignal: String {
        let signal = string(config["StopSignal"])
        return signal.isEmpty ? "SIGTERM" : signal
    }
    /// The signal number of `stopSignal` (15 if it does not parse).
    public var stopSignalNumber: Int32 { (try? ContainerValidation.parseSignal(stopSignal)) ?? 15 }
    /// Seconds `stop` waits before SIGKILL: Config.StopTimeout, else Docker's 10.
    public var stopTimeout: Int {
        if case .int(let n)? = config["StopTimeout"] { return Int(n) }
        return 10
    }
    public var labels: [String: String] {
        guard case .object(let members)? = config["Labels"] else { return [:] }
        var result: [String: String] = [:]
        for m in members { if case .string(let v) = m.value { result[m.key] = v } }
        return result
    }
    /// `Config.Image` as the user named it.
    public var image: String { string(config["Image"]) }
    /// `bridge`, `none` or `host`.
    public var networkMode: String { string(hostConfig["NetworkMode"]) }
    public var healthcheck: JSON? { config["Healthcheck"] }
    /// Mount points as inspect shows them.
    public var mounts: [JSON] {
        if case .array(let values)? = json["Mounts"] { return values }
        return []
    }
    /// Volumes the container uses, and whether each was made for it (removed by `rm -v`).
    public var volumes: [(name: String, anonymous: Bool)] {
        guard case .array(let values)? = json["Volumes"] else { return [] }
        return values.map { (string($0["Name"]), bool($0["Anonymous"])) }
    }
    public var resolvConfPath: String { string(json["ResolvConfPath"]) }
    public var hostnamePath: String { string(json["HostnamePath"]) }
    public var hostsPath: String { string(json["HostsPath"]) }
    public var logPath: String { string(json["LogPath"]) }
    /// The bundle directory (`<skiffRoot>/containers/<id>`).
    public var bundle: String { string(json["Bundle"]) }
    /// HostConfig.ConsoleSize `[height, width]`.
    public var consoleSize: (rows: Int, columns: Int) {
        guard case .array(let values)? = hostConfig["ConsoleSize"], values.count == 2 else { return (0, 0) }
        return (Int(int(values[0])), Int(int(values[1])))
    }

    func string(_ value: JSON?) -> String {
        if case .string(let s)? = value { return s }
        return ""
    }

    func strings(_ value: JSON?) -> [String] {
        guard case .array(let values)? = value else { return [] }
        return values.compactMap { if case .string(let s) = $0 { return s }; return nil }
    }

    func bool(_ value: JSON?) -> Bool {
        if case .bool(let b)? = value { return b }
        return false
    }

    func int(_ value: JSON?) -> Int64 {
        if case .int(let n)? = value { return n }
        return 0
    }
}

// MARK: - Rendering Docker's Config and HostConfig

extension CreateRequest.ContainerConfig {
    /// Docker's `Config` in inspect, field for field.
    var json: JSON {
        var m: [JSON.Member] = [
            JSON.Member("Hostname", .string(hostname)), JSON.Member("Domainname", .string(domainname)),
            JSON.Member("User", .string(user)), JSON.Member("AttachStdin", .bool(attachStdin)),
            JSON.Member("AttachStdout", .bool(attachStdout)), JSON.Member("AttachStderr", .bool(attachStderr)),
        ]
        if !exposedPorts.isEmpty {
            m.append(JSON.Member("ExposedPorts", .object(exposedPorts.map { JSON.Member($0, .object([])) })))
        }
        m += [JSON.Member("Tty", .bool(tty)), JSON.Member("OpenStdin", .bool(openStdin)), JSON.Member("StdinOnce", .bool(stdinOnce)),
              JSON.Member("Env", env.isEmpty ? .null : JSON(env)), JSON.Member("Cmd", cmd.map { JSON($0) } ?? .null)]
        if let healthcheck { m.append(JSON.Member("Healthcheck", healthcheck.json)) }
        if argsEscaped { m.append(JSON.Member("ArgsEscaped", true)) }
        m += [JSON.Member("Image", .string(image)),
              JSON.Member("Volumes", volumes.isEmpty ? .null : .object(volumes.map { JSON.Member($0, .object([])) })),
              JSON.Member("WorkingDir", .string(workingDir)), JSON.Member("Entrypoint", entrypoint.map { JSON($0) } ?? .null)]
        if networkDisabled { m.append(JSON.Member("NetworkDisabled", true)) }
        m += [JSON.Member("OnBuild", onBuild.map { JSON($0) } ?? .null),
              JSON.Member("Labels", .object(labels.keys.sorted().map { JSON.Member($0, .string(labels[$0]!)) }))]
        if !stopSignal.isEmpty { m.append(JSON.Member("StopSignal", .string(stopSignal))) }
        if let stopTimeout { m.append(JSON.Member("StopTimeout", .int(Int64(stopTimeout)))) }
        if let shell { m.append(JSON.Member("Shell", JSON(shell))) }
        return .object(m)
    }
}

extension CreateRequest.Healthcheck {
    var json: JSON {
        var m: [JSON.Member] = []
        if let test { m.append(JSON.Member("Test", JSON(test))) }
        if interval != 0 { m.append(JSON.Member("Interval", .int(interval))) }
        if timeout != 0 { m.append(JSON.Member("Timeout", .int(timeout))) }
        if startPeriod != 0 { m.append(JSON.Member("StartPeriod", .int(startPeriod))) }
        if startInterval != 0 { m.append(JSON.Member("StartInterval", .int(startInterval))) }
        if retries != 0 { m.append(JSON.Member("Retries", .int(Int64(retries)))) }
        return .object(m)
    }
}

extension CreateRequest.HostConfig {
    /// Docker's `HostConfig` in inspect (API 1.44 field order), with the defaults the daemon fills in.
    var json: JSON {
        func list(_ values: [String]) -> JSON { values.isEmpty ? .null : JSON(values) }
        func map(_ values: [String: String]) -> JSON {
            .object(values.keys.sorted().map { JSON.Member($0, .string(values[$0]!)) })
        }
        var m: [JSON.Member] = [
            JSON.Member("Binds", list(binds)),
            JSON.Member("ContainerIDFile", .string(containerIDFile)),
            JSON.Member("LogConfig", .object([JSON.Member("Type", .string(logType)), JSON.Member("Config", map(logConfig))])),
            JSON.Member("NetworkMode", .string(networkMode)),
            JSON.Member("PortBindings", portBindings ?? .object([])),
            JSON.Member("RestartPolicy", .object([JSON.Member("Name", .string(restartPolicy.name)),
                                                  JSON.Member("MaximumRetryCount", .int(Int64(restartPolicy.maximumRetryCount)))])),
            JSON.Member("AutoRemove", .bool(autoRemove)),
            JSON.Member("VolumeDriver", .string(volumeDriver)),
            JSON.Member("VolumesFrom", list(volumesFrom)),
            JSON.Member("ConsoleSize", .array(consoleSize.map { .int($0) })),
        ]
        if !annotations.isEmpty { m.append(JSON.Member("Annotations", map(annotations))) }
        m += [
            JSON.Member("CapAdd", list(capAdd)), JSON.Member("CapDrop", list(capDrop)),
            JSON.Member("CgroupnsMode", .string(cgroupnsMode)),
            JSON.Member("Dns", JSON(dns)), JSON.Member("DnsOptions", JSON(dnsOptions)), JSON.Member("DnsSearch", JSON(dnsSearch)),
            JSON.Member("ExtraHosts", list(extraHosts)), JSON.Member("GroupAdd", list(groupAdd)),
            JSON.Member("IpcMode", .string(ipcMode)), JSON.Member("Cgroup", .string(cgroup)), JSON.Member("Links", list(links)),
            JSON.Member("OomScoreAdj", .int(Int64(oomScoreAdj))), JSON.Member("PidMode", .string(pidMode)),
            JSON.Member("Privileged", .bool(privileged)), JSON.Member("PublishAllPorts", .bool(publishAllPorts)),
            JSON.Member("ReadonlyRootfs", .bool(readonlyRootfs)), JSON.Member("SecurityOpt", list(securityOpt)),
        ]
        if !storageOpt.isEmpty { m.append(JSON.Member("StorageOpt", map(storageOpt))) }
        if !tmpfs.isEmpty { m.append(JSON.Member("Tmpfs", map(tmpfs))) }
        m += [
            JSON.Member("UTSMode", .string(utsMode)), JSON.Member("UsernsMode", .string(usernsMode)),
            JSON.Member("ShmSize", .int(shmSize)),
        ]
        if !sysctls.isEmpty { m.append(JSON.Member("Sysctls", map(sysctls))) }
        m += [
            JSON.Member("Runtime", .string(runtime)), JSON.Member("Isolation", .string(isolation)),
            JSON.Member("CpuShares", .int(cpuShares)), JSON.Member("Memory", .int(memory)), JSON.Member("NanoCpus", .int(nanoCpus)),
            JSON.Member("CgroupParent", .string(cgroupParent)), JSON.Member("BlkioWeight", .int(blkioWeight)),
            JSON.Member("BlkioWeightDevice", .array([])), JSON.Member("BlkioDeviceReadBps", .array([])),
            JSON.Member("BlkioDeviceWriteBps", .array([])), JSON.Member("BlkioDeviceReadIOps", .array([])),
            JSON.Member("BlkioDeviceWriteIOps", .array([])),
            JSON.Member("CpuPeriod", .int(cpuPeriod)), JSON.Member("CpuQuota", .int(cpuQuota)),
            JSON.Member("CpuRealtimePeriod", .int(cpuRealtimePeriod)), JSON.Member("CpuRealtimeRuntime", .int(cpuRealtimeRuntime)),
            JSON.Member("CpusetCpus", .string(cpusetCpus)), JSON.Member("CpusetMems", .string(cpusetMems)),
            JSON.Member("Devices", devices ?? .array([])), JSON.Member("DeviceCgroupRules", .null),
            JSON.Member("DeviceRequests", .null), JSON.Member("MemoryReservation", .int(memoryReservation)),
            JSON.Member("MemorySwap", .int(memorySwap)), JSON.Member("MemorySwappiness", memorySwappiness.map { .int($0) } ?? .null),
            JSON.Member("OomKillDisable", oomKillDisable.map { .bool($0) } ?? .null),
            JSON.Member("PidsLimit", pidsLimit.map { .int($0) } ?? .null),
            JSON.Member("Ulimits", .array(ulimits.map {
                .object([JSON.Member("Name", .string($0.name)), JSON.Member("Hard", .int($0.hard)), JSON.Member("Soft", .int($0.soft))])
            })),
            JSON.Member("CpuCount", 0), JSON.Member("CpuPercent", 0), JSON.Member("IOMaximumIOps", 0),
            JSON.Member("IOMaximumBandwidth", 0),
        ]
        if !mounts.isEmpty { m.append(JSON.Member("Mounts", .array(mounts.map(\.json)))) }
        m += [JSON.Member("MaskedPaths", maskedPaths.map { JSON($0) } ?? .null),
              JSON.Member("ReadonlyPaths", readonlyPaths.map { JSON($0) } ?? .null)]
        if let initialize { m.append(JSON.Member("Init", .bool(initialize))) }
        return .object(m)
    }
}

extension CreateRequest.Mount {
    var json: JSON {
        var m: [JSON.Member] = [JSON.Member("Type", .string(type))]
        if !source.isEmpty { m.append(JSON.Member("Source", .string(source))) }
        m.append(JSON.Member("Target", .string(target)))
        if readOnly { m.append(JSON.Member("ReadOnly", true)) }
        if !consistency.isEmpty { m.append(JSON.Member("Consistency", .string(consistency))) }
        if let b = bindOptions {
            var o: [JSON.Member] = []
            if !b.propagation.isEmpty { o.append(JSON.Member("Propagation", .string(b.propagation))) }
            if b.nonRecursive { o.append(JSON.Member("NonRecursive", true)) }
            if b.createMountpoint { o.append(JSON.Member("CreateMountpoint", true)) }
            if b.readOnlyNonRecursive { o.append(JSON.Member("ReadOnlyNonRecursive", true)) }
            if b.readOnlyForceRecursive { o.append(JSON.Member("ReadOnlyForceRecursive", true)) }
            m.append(JSON.Member("BindOptions", .object(o)))
        }
        if let v = volumeOptions {
            var o: [JSON.Member] = []
            if v.noCopy { o.append(JSON.Member("NoCopy", true)) }
            if !v.labels.isEmpty { o.append(JSON.Member("Labels", .object(v.labels.keys.sorted().map { JSON.Member($0, .string(v.labels[$0]!)) }))) }
            if !v.subpath.isEmpty { o.append(JSON.Member("Subpath", .string(v.subpath))) }
            if !v.driver.isEmpty { o.append(JSON.Member("DriverConfig", .object([JSON.Member("Name", .string(v.driver))]))) }
            m.append(JSON.Member("VolumeOptions", .object(o)))
        }
        if let t = tmpfsOptions {
            var o: [JSON.Member] = []
            if t.sizeBytes != 0 { o.append(JSON.Member("SizeBytes", .int(t.sizeBytes))) }
            if t.mode != 0 { o.append(JSON.Member("Mode", .int(Int64(t.mode)))) }
            if !t.options.isEmpty { o.append(JSON.Member("Options", .array(t.options.map { JSON($0) }))) }
            m.append(JSON.Member("TmpfsOptions", .object(o)))
        }
        return .object(m)
    }
}
