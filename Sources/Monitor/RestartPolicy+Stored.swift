import Platform

extension RestartPolicy {
    /// The policy the container's stored configuration names now (`HostConfig.RestartPolicy`
    /// in the Store's `config` JSON, which `docker update --restart` changes while the container
    /// runs); nil when it cannot be read, and the monitor keeps the one it was started with.
    public init?(storedConfig config: [UInt8]) {
        guard !config.isEmpty, let json = try? JSONParser.parse(config),
              case .object? = json["HostConfig"]?["RestartPolicy"] else { return nil }
        let policy = json["HostConfig"]?["RestartPolicy"]
        var name = ""
        if case .string(let s)? = policy?["Name"] { name = s }
        var count: Int64 = 0
        if case .int(let n)? = policy?["MaximumRetryCount"] { count = n }
        self.init(parsing: name == "on-failure" && count > 0 ? "on-failure:\(count)" : name)
    }
}
