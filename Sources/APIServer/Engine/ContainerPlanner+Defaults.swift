#if canImport(Glibc)
import Glibc
#endif
import Config
import Images

/// The defaults a create takes from the image and the host: moby's merge of the image config,
/// environment entries, the init binary.
extension ContainerPlanner {
    /// moby's merge: the image's values where the request left a field empty.
    static func merge(_ config: inout CreateRequest.ContainerConfig, image: ImageConfig.Container) {
        if config.user.isEmpty { config.user = image.user ?? "" }
        for port in image.exposedPorts ?? [] where !config.exposedPorts.contains(port) { config.exposedPorts.append(port) }
        config.exposedPorts.sort()
        if config.env.isEmpty {
            config.env = image.env ?? []
        } else {
            for entry in image.env ?? [] {
                let key = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
                if !config.env.contains(where: { $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] == key }) {
                    config.env.append(entry)
                }
            }
        }
        for (key, value) in image.labels ?? [:] where config.labels[key] == nil { config.labels[key] = value }
        if (config.entrypoint ?? []).isEmpty {
            if (config.cmd ?? []).isEmpty { config.cmd = image.cmd }
            if config.entrypoint == nil { config.entrypoint = image.entrypoint }
        }
        if let health = image.healthcheck {
            var merged = config.healthcheck ?? CreateRequest.Healthcheck()
            if (merged.test ?? []).isEmpty { merged.test = health.test }
            if merged.interval == 0 { merged.interval = health.interval ?? 0 }
            if merged.timeout == 0 { merged.timeout = health.timeout ?? 0 }
            if merged.startPeriod == 0 { merged.startPeriod = health.startPeriod ?? 0 }
            if merged.startInterval == 0 { merged.startInterval = health.startInterval ?? 0 }
            if merged.retries == 0 { merged.retries = Int(health.retries ?? 0) }
            config.healthcheck = merged
        }
        if config.workingDir.isEmpty { config.workingDir = image.workingDir ?? "" }
        if config.volumes.isEmpty {
            config.volumes = image.volumes ?? []
        } else {
            config.volumes = Array(Set(config.volumes + (image.volumes ?? []))).sorted()
        }
        if config.stopSignal.isEmpty { config.stopSignal = image.stopSignal ?? "" }
    }

    /// `KEY=value` replaces an entry with the same key, or is appended.
    static func setEnv(_ env: inout [String], _ entry: String) {
        let key = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if let i = env.firstIndex(where: { $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] == key }) {
            env[i] = entry
        } else {
            env.append(entry)
        }
    }

    static func initCandidates(_ settings: EngineConfig) -> [String] {
        var paths: [String] = []
        for key in ["containers.init_path", "engine.init_path"] {
            if case .string(let path)? = settings[key]?.value, !path.isEmpty { paths.append(path) }
        }
        return paths + ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/bin/docker-init",
                        "/usr/bin/tini-static", "/usr/local/bin/docker-init", "/usr/bin/tini"]
    }

    static func initBinary(_ settings: EngineConfig) -> String? {
        initCandidates(settings).first { access($0, X_OK) == 0 }
    }
}
