import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// `/_ping`, `/version`, `/info`: the calls every client makes first.
enum SystemHandlers {
    static let routes: [Route] = [
        Route("GET", "/_ping", "systemPing", ping),
        Route("HEAD", "/_ping", "systemPingHead", ping),
        Route("GET", "/version", "systemVersion", version),
        Route("GET", "/info", "systemInfo", blocking: true, info),
    ]

    /// Body `OK`; the version headers are added to every response by the HTTP layer.
    @Sendable static func ping(_ request: Request, _ engine: Engine) throws -> Response {
        Response(headers: [("Content-Type", "text/plain; charset=utf-8"),
                           ("Cache-Control", "no-cache, no-store, must-revalidate"),
                           ("Pragma", "no-cache")],
                 body: Array("OK".utf8))
    }

    @Sendable static func version(_ request: Request, _ engine: Engine) throws -> Response {
        let host = engine.hostInfo
        let details = SystemVersion.Component.Details(
            ApiVersion: APIVersion.current.description, Arch: host.goArch, BuildTime: "",
            Experimental: "false", GitCommit: "", KernelVersion: host.kernelVersion,
            MinAPIVersion: APIVersion.minimum.description, Os: "linux")
        let body = SystemVersion(
            Platform: .init(Name: Engine.name),
            Components: [.init(Name: "Engine", Version: Engine.version, Details: details)],
            Version: Engine.version, ApiVersion: APIVersion.current.description,
            MinAPIVersion: APIVersion.minimum.description, GitCommit: "", GoVersion: "",
            Os: "linux", Arch: host.goArch, KernelVersion: host.kernelVersion, Experimental: false,
            BuildTime: "")
        return try .json(encode(body))
    }

    @Sendable static func info(_ request: Request, _ engine: Engine) throws -> Response {
        let host = engine.hostInfo
        let config = engine.config
        let (counts, images, id) = try engine.withStore { store in
            (try store.containerCounts(), try store.imageCount(), try store.engineID())
        }
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
        let body = SystemInfo(
            ID: id, Containers: counts.total, ContainersRunning: counts.running,
            ContainersPaused: counts.paused, ContainersStopped: counts.stopped, Images: images,
            Driver: config.storageDriver,
            DriverStatus: [["Graph Root", config.graphRootPath], ["Run Root", config.runRootPath]],
            Plugins: .init(Volume: ["local"], Network: ["none", "host"], Authorization: nil,
                           Log: ["k8s-file"]),
            MemoryLimit: false, SwapLimit: false, CpuCfsPeriod: false, CpuCfsQuota: false,
            CPUShares: false, CPUSet: false, PidsLimit: !engine.isRootless, IPv4Forwarding: false,
            Debug: false, NFd: openFileCount(), OomKillDisable: false, NGoroutines: 0,
            SystemTime: Timestamp.rfc3339Nano(Timestamp.now()), LoggingDriver: "k8s-file",
            CgroupDriver: config.cgroupManager, CgroupVersion: host.cgroupVersion,
            NEventsListener: 0, KernelVersion: host.kernelVersion,
            OperatingSystem: host.operatingSystem, OSVersion: host.osVersion, OSType: "linux",
            Architecture: host.machine, IndexServerAddress: "https://index.docker.io/v1/",
            RegistryConfig: .init(InsecureRegistryCIDRs: ["127.0.0.0/8"], IndexConfigs: [:], Mirrors: []),
            NCPU: host.cpus, MemTotal: host.memoryTotal, DockerRootDir: config.skiffRoot,
            HttpProxy: "", HttpsProxy: "", NoProxy: "", Name: host.hostname, Labels: [],
            ExperimentalBuild: false, ServerVersion: Engine.version,
            Runtimes: [runtime: .init(path: runtime)], DefaultRuntime: runtime,
            Swarm: .init(NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false,
                         Error: "", RemoteManagers: nil),
            LiveRestoreEnabled: true, Isolation: "", InitBinary: "", SecurityOptions: security,
            Warnings: warnings)
        return try .json(encode(body))
    }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    private static func openFileCount() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while readdir(dir) != nil { count += 1 }
        return max(0, count - 3)   // ".", ".." and the directory's own descriptor
    }
}
