import Config
import Platform
#if canImport(Glibc)
import Glibc
#endif

/// `/_ping`, `/version`, `/info`: the calls every client makes first.
enum SystemHandlers {
    /// Body `OK`; the version headers are added to every response by the HTTP layer.
    @Sendable static func systemPing(_ request: Request, _ engine: Engine) throws -> Response {
        Response(headers: [("Content-Type", "text/plain; charset=utf-8"),
                           ("Cache-Control", "no-cache, no-store, must-revalidate"),
                           ("Pragma", "no-cache")],
                 body: Array("OK".utf8))
    }

    /// `HEAD /_ping`: the same answer; the HTTP layer sends no body for HEAD.
    @Sendable static func systemPingHead(_ request: Request, _ engine: Engine) throws -> Response {
        try systemPing(request, engine)
    }

    /// moby's `SystemVersion`.
    @Sendable static func systemVersion(_ request: Request, _ engine: Engine) throws -> Response {
        let host = engine.hostInfo
        let api = JSON(APIVersion.current.description)
        let minimum = JSON(APIVersion.minimum.description)
        let kernel = JSON(host.kernelVersion)
        let arch = JSON(host.goArch)
        let details: JSON = [
            "ApiVersion": api, "Arch": arch, "BuildTime": "", "Experimental": "false", "GitCommit": "",
            "KernelVersion": kernel, "MinAPIVersion": minimum, "Os": "linux",
        ]
        let engineComponent: JSON = ["Name": "Engine", "Version": JSON(Engine.version), "Details": details]
        return .json([
            "Platform": ["Name": JSON(Engine.name)],
            "Components": [engineComponent],
            "Version": JSON(Engine.version),
            "ApiVersion": api,
            "MinAPIVersion": minimum,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": kernel,
            "Experimental": false,
            "BuildTime": "",
        ])
    }

    /// moby's `SystemInfo`: the fields the docker CLI and docker-py read.
    @Sendable static func systemInfo(_ request: Request, _ engine: Engine) throws -> Response {
        let host = engine.hostInfo
        let config = engine.config
        let (counts, images, id) = try engine.systemCounts()
        var security: [String] = []
        if engine.isRootless { security.append("name=rootless") }
        var warnings: [String] = []
        if engine.isRootless && !host.cgroupVersion.hasPrefix("2") {
            warnings.append("WARNING: cgroups v1: resource limits are not available to rootless containers")
        }
        for warning in config.warnings {
            warnings.append("WARNING: \(warning)")
        }
        let runtime = config.runtimeName.isEmpty ? "skiff" : config.runtimeName  // "" in a file: the built-in
        let plugins: JSON = [
            "Volume": ["local"], "Network": ["none", "host"], "Authorization": nil, "Log": ["json-file", "k8s-file"],
        ]
        let registry: JSON = [
            "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": [:], "Mirrors": [],
        ]
        let swarm: JSON = [
            "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
            "Error": "", "RemoteManagers": nil,
        ]
        let counters: [JSON.Member] = [
            .init("ID", JSON(id)),
            .init("Containers", JSON(counts.total)),
            .init("ContainersRunning", JSON(counts.running)),
            .init("ContainersPaused", JSON(counts.paused)),
            .init("ContainersStopped", JSON(counts.stopped)),
            .init("Images", JSON(images)),
            .init("Driver", JSON(config.storageDriver)),
            .init("DriverStatus", [["Graph Root", JSON(config.graphRootPath)], ["Run Root", JSON(config.runRootPath)]]),
            .init("Plugins", plugins),
        ]
        // As root on cgroup v1 the runtime applies memory, swap and cpu limits; on cgroup v2 those
        // whose controller the base offers (ContainerCgroups.Manager).
        let manager = engine.cgroupManager
        var cgroups = ContainerCgroups.applied(isRootless: engine.isRootless) && manager == .v1
        var cpuLimits = cgroups && ContainerCgroups.hasCPU()
        var swapLimit = cgroups && ContainerCgroups.swapAccounted()
        var pidsLimit = !engine.isRootless && manager != .disabled
        if case .v2(let base) = manager {
            let offered = CgroupHost.controllers(of: base)
            cgroups = offered.contains("memory")
            swapLimit = cgroups
            cpuLimits = offered.contains("cpu")
            pidsLimit = offered.contains("pids")
            let missing = ["cpu", "memory", "pids"].filter { !offered.contains($0) }
            if !missing.isEmpty {
                warnings.append("WARNING: cgroup v2: \(base) is not delegated the \(missing.joined(separator: ", ")) "
                                + "controller(s): limits needing them are refused")
            }
        }
        if let problem = ContainerCgroups.systemdManagerProblem(config["engine.cgroup_manager"], manager: manager) {
            warnings.append("WARNING: " + problem)
        }
        var systemdDriver = false
        if case .v2 = manager, ContainerCgroups.wantsSystemd(config["engine.cgroup_manager"]) {
            if let fallback = ContainerCgroups.systemdFallback(isRootless: engine.isRootless) {
                warnings.append("WARNING: " + fallback)
            } else {
                systemdDriver = true
            }
        }
        let cpu = JSON.bool(cpuLimits)
        let features: [JSON.Member] = [
            .init("MemoryLimit", .bool(cgroups)), .init("SwapLimit", .bool(swapLimit)),
            .init("CpuCfsPeriod", cpu), .init("CpuCfsQuota", cpu), .init("CPUShares", cpu), .init("CPUSet", false),
            .init("PidsLimit", .bool(pidsLimit)), .init("IPv4Forwarding", false),
            .init("Debug", false), .init("NFd", JSON(openFileCount())), .init("OomKillDisable", false),
            .init("NGoroutines", 0),
        ]
        let system: [JSON.Member] = [
            .init("SystemTime", JSON(Timestamp.rfc3339Nano(Timestamp.now()))),
            .init("LoggingDriver", "json-file"),
            .init("CgroupDriver", JSON(ContainerCgroups.driverName(manager, systemd: systemdDriver))),
            .init("CgroupVersion", JSON(host.cgroupVersion)),
            .init("NEventsListener", 0),
            .init("KernelVersion", JSON(host.kernelVersion)),
            .init("OperatingSystem", JSON(host.operatingSystem)),
            .init("OSVersion", JSON(host.osVersion)),
            .init("OSType", "linux"),
            .init("Architecture", JSON(host.machine)),
            .init("IndexServerAddress", "https://index.docker.io/v1/"),
            .init("RegistryConfig", registry),
            .init("NCPU", JSON(host.cpus)),
            .init("MemTotal", .int(host.memoryTotal)),
            .init("DockerRootDir", JSON(config.skiffRoot)),
            .init("HttpProxy", ""), .init("HttpsProxy", ""), .init("NoProxy", ""),
            .init("Name", JSON(host.hostname)),
            .init("Labels", []),
            .init("ExperimentalBuild", false),
            .init("ServerVersion", JSON(Engine.version)),
            .init("Runtimes", .object([.init(runtime, ["path": JSON(runtime)])])),
            .init("DefaultRuntime", JSON(runtime)),
            .init("Swarm", swarm),
            .init("LiveRestoreEnabled", true),
            .init("Isolation", ""),
            .init("InitBinary", ""),
            .init("SecurityOptions", JSON(security)),
            .init("Warnings", JSON(warnings)),
        ]
        return .json(.object(counters + features + system))
    }

    /// Open descriptors, not counting the one that lists them.
    private static func openFileCount() -> Int {
        max(0, (FileSystem.directoryEntries("/proc/self/fd")?.count ?? 1) - 1)
    }
}
