/// moby's commit merge (`daemon/commit.go` `merge`): what the commit request's config, with its
/// `changes` applied, leaves unset is taken from the container's config.
extension ImageConfig.Container {
    /// This config (the request's, changes applied) completed from `base` (the container's).
    public func completed(from base: ImageConfig.Container) -> ImageConfig.Container {
        var c = self
        if (c.user ?? "").isEmpty { c.user = base.user }
        if (c.exposedPorts ?? []).isEmpty {
            c.exposedPorts = base.exposedPorts
        } else if let ports = base.exposedPorts {
            c.exposedPorts = Array(Set(c.exposedPorts! + ports)).sorted()
        }
        if (c.env ?? []).isEmpty {
            c.env = base.env
        } else {
            let names = Set(c.env!.map { Self.envName($0) })
            c.env! += (base.env ?? []).filter { !names.contains(Self.envName($0)) }
        }
        if let labels = base.labels {
            var merged = c.labels ?? [:]
            for (key, value) in labels where merged[key] == nil { merged[key] = value }
            c.labels = merged
        }
        if (c.entrypoint ?? []).isEmpty {
            if (c.cmd ?? []).isEmpty { c.cmd = base.cmd }
            if c.entrypoint == nil { c.entrypoint = base.entrypoint }
        }
        if let health = base.healthcheck {
            if var own = c.healthcheck {
                if (own.test ?? []).isEmpty { own.test = health.test }
                if (own.interval ?? 0) == 0 { own.interval = health.interval }
                if (own.timeout ?? 0) == 0 { own.timeout = health.timeout }
                if (own.startPeriod ?? 0) == 0 { own.startPeriod = health.startPeriod }
                if (own.startInterval ?? 0) == 0 { own.startInterval = health.startInterval }
                if (own.retries ?? 0) == 0 { own.retries = health.retries }
                c.healthcheck = own
            } else {
                c.healthcheck = health
            }
        }
        if (c.workingDir ?? "").isEmpty { c.workingDir = base.workingDir }
        if (c.volumes ?? []).isEmpty {
            c.volumes = base.volumes
        } else if let volumes = base.volumes {
            c.volumes = Array(Set(c.volumes! + volumes)).sorted()
        }
        if (c.stopSignal ?? "").isEmpty { c.stopSignal = base.stopSignal }
        if c.onBuild == nil { c.onBuild = base.onBuild }
        return c
    }

    private static func envName(_ entry: String) -> Substring {
        entry.prefix { $0 != "=" }
    }
}
