/// `GET /version` body (moby's `SystemVersion`). Field names are the wire names.
struct SystemVersion: Encodable {
    struct Platform: Encodable { var Name: String }
    struct Component: Encodable {
        struct Details: Encodable {
            var ApiVersion: String
            var Arch: String
            var BuildTime: String
            var Experimental: String
            var GitCommit: String
            var KernelVersion: String
            var MinAPIVersion: String
            var Os: String
        }
        var Name: String
        var Version: String
        var Details: Details
    }
    var Platform: Platform
    var Components: [Component]
    var Version: String
    var ApiVersion: String
    var MinAPIVersion: String
    var GitCommit: String
    var GoVersion: String
    var Os: String
    var Arch: String
    var KernelVersion: String
    var Experimental: Bool
    var BuildTime: String
}

/// `GET /info` body (moby's `SystemInfo`), the fields the docker CLI and docker-py read.
struct SystemInfo: Encodable {
    struct PluginsInfo: Encodable {
        var Volume: [String]
        var Network: [String]
        var Authorization: [String]?
        var Log: [String]
    }
    struct RegistryServiceConfig: Encodable {
        var InsecureRegistryCIDRs: [String]
        var IndexConfigs: [String: String]
        var Mirrors: [String]
    }
    struct Runtime: Encodable { var path: String }
    struct SwarmInfo: Encodable {
        var NodeID: String
        var NodeAddr: String
        var LocalNodeState: String
        var ControlAvailable: Bool
        var Error: String
        var RemoteManagers: [String]?
    }
    var ID: String
    var Containers: Int
    var ContainersRunning: Int
    var ContainersPaused: Int
    var ContainersStopped: Int
    var Images: Int
    var Driver: String
    var DriverStatus: [[String]]
    var Plugins: PluginsInfo
    var MemoryLimit: Bool
    var SwapLimit: Bool
    var CpuCfsPeriod: Bool
    var CpuCfsQuota: Bool
    var CPUShares: Bool
    var CPUSet: Bool
    var PidsLimit: Bool
    var IPv4Forwarding: Bool
    var Debug: Bool
    var NFd: Int
    var OomKillDisable: Bool
    var NGoroutines: Int
    var SystemTime: String
    var LoggingDriver: String
    var CgroupDriver: String
    var CgroupVersion: String
    var NEventsListener: Int
    var KernelVersion: String
    var OperatingSystem: String
    var OSVersion: String
    var OSType: String
    var Architecture: String
    var IndexServerAddress: String
    var RegistryConfig: RegistryServiceConfig
    var NCPU: Int
    var MemTotal: Int64
    var DockerRootDir: String
    var HttpProxy: String
    var HttpsProxy: String
    var NoProxy: String
    var Name: String
    var Labels: [String]
    var ExperimentalBuild: Bool
    var ServerVersion: String
    var Runtimes: [String: Runtime]
    var DefaultRuntime: String
    var Swarm: SwarmInfo
    var LiveRestoreEnabled: Bool
    var Isolation: String
    var InitBinary: String
    var SecurityOptions: [String]
    var Warnings: [String]
}
