/// The effective configuration: every key's value with its origin, the files read, the warnings,
/// and the storage locations derived from them.
public struct EngineConfig: Sendable {
    public let environment: ConfigEnvironment
    /// `table.key` -> effective value and origin.
    public internal(set) var settings: [String: Setting] = [:]
    /// Files that existed and were read, in order.
    public internal(set) var filesRead: [String] = []
    public internal(set) var warnings: [ConfigWarning] = []
    /// Keys whose effective value came from a user-level file.
    var userLevelKeys: Set<String> = []

    /// Where images and layers live (containers/storage's `graphroot`).
    public internal(set) var graphRoot = Setting(.string(""), .builtin)
    /// containers/storage's `runroot`.
    public internal(set) var runRoot = Setting(.string(""), .builtin)
    /// Skiff's runtime directory: sockets, pid and exit files.
    public internal(set) var runtimeDirectory = Setting(.string(""), .builtin)

    init(environment: ConfigEnvironment) {
        self.environment = environment
    }

    public subscript(name: String) -> Setting? { settings[name] }

    func string(_ name: String) -> String? {
        if case .string(let s)? = settings[name]?.value { return s }
        return nil
    }

    func strings(_ name: String) -> [String] {
        if case .stringArray(let a)? = settings[name]?.value { return a }
        return []
    }

    func integer(_ name: String) -> Int? {
        if case .integer(let i)? = settings[name]?.value { return i }
        return nil
    }

    func bool(_ name: String) -> Bool? {
        if case .bool(let b)? = settings[name]?.value { return b }
        return nil
    }

    /// Works out graphroot, runroot and Skiff's runtime directory the way containers/storage does:
    /// root uses `graphroot`/`runroot`; a rootless user uses their own file's `graphroot` if it
    /// sets one, else `rootless_storage_path` (with `$HOME`, `$UID`, `$USER` expanded), else
    /// `$XDG_DATA_HOME/containers/storage`; runroot is `$XDG_RUNTIME_DIR/containers`.
    mutating func resolveStorage() {
        let env = environment
        let runtime = env.runtimeDirectory
        if env.isRoot {
            graphRoot = settings["storage.graphroot"].flatMap(nonEmpty)
                ?? Setting(.string("/var/lib/containers/storage"), .builtin)
            runRoot = settings["storage.runroot"].flatMap(nonEmpty)
                ?? Setting(.string("/run/containers/storage"), .builtin)
            runtimeDirectory = Setting(.string("/run/skiff"), .builtin)
            return
        }
        if let own = settings["storage.graphroot"].flatMap(nonEmpty), userLevelKeys.contains("storage.graphroot") {
            graphRoot = own
        } else if let path = string("storage.rootless_storage_path"), !path.isEmpty,
                  let setting = settings["storage.rootless_storage_path"] {
            graphRoot = Setting(.string(env.expand(path)), .derived(from: "rootless_storage_path", setting.origin))
        } else {
            let data = env.dataHome
            graphRoot = Setting(.string(data.path + "/containers/storage"), data.origin)
        }
        if let own = settings["storage.runroot"].flatMap(nonEmpty), userLevelKeys.contains("storage.runroot") {
            runRoot = own
        } else {
            runRoot = Setting(.string(runtime.path + "/containers"), runtime.origin)
        }
        runtimeDirectory = Setting(.string(runtime.path + "/skiff"), runtime.origin)
    }

    private func nonEmpty(_ setting: Setting) -> Setting? {
        if case .string(let s) = setting.value, s.isEmpty { return nil }
        return setting
    }
}

// MARK: - Typed values the engine reads

extension EngineConfig {
    public var graphRootPath: String { if case .string(let s) = graphRoot.value { return s }; return "" }
    public var runRootPath: String { if case .string(let s) = runRoot.value { return s }; return "" }
    public var runtimeDirectoryPath: String {
        if case .string(let s) = runtimeDirectory.value { return s }
        return ""
    }

    /// Skiff's own data directory, beside containers/storage's layout: `<graphroot>/skiff`.
    public var skiffRoot: String { graphRootPath + "/skiff" }
    /// The default API socket: `$XDG_RUNTIME_DIR/skiff/skiff.sock`, `/run/skiff/skiff.sock` for root.
    public var defaultSocketPath: String { runtimeDirectoryPath + "/skiff.sock" }

    public var storageDriver: String { string("storage.driver").flatMap { $0.isEmpty ? nil : $0 } ?? "overlay" }
    public var defaultCapabilities: [String] { strings("containers.default_capabilities") }
    public var defaultEnvironment: [String] { strings("containers.env") }
    public var defaultUlimits: [String] { strings("containers.default_ulimits") }
    public var seccompProfile: String { string("containers.seccomp_profile") ?? "" }
    public var pidsLimit: Int { integer("containers.pids_limit") ?? 2048 }
    public var labelsEnabled: Bool { bool("containers.label") ?? true }
    /// Skiff's own: refused syscalls explained by the container's supervisor (docs/denials.md).
    public var explainDenials: Bool { bool("containers.explain_denials") ?? true }
    /// Skiff's own: the hint on the log when a container exits non-zero after a denial.
    public var denialHint: Bool { bool("containers.denial_hint") ?? true }
    /// storage.conf: `volatile` is not used for `--rm` containers' overlays.
    public var disableVolatile: Bool { bool("storage.options.disable-volatile") ?? false }
    public var runtimeName: String { string("engine.runtime") ?? "" }
    /// `[engine] service_timeout`: the service's idle timeout in seconds (0 = never).
    public var serviceTimeout: Int { integer("engine.service_timeout") ?? 5 }
    public var eventsLogger: String { string("engine.events_logger") ?? "file" }
    public var cgroupManager: String { string("engine.cgroup_manager") ?? "cgroupfs" }
    /// `[network] default_rootless_network_cmd`: `slirp4netns` or `pasta`.
    public var rootlessNetworkCommand: String { string("network.default_rootless_network_cmd") ?? "slirp4netns" }
    /// `[engine] network_cmd_path`: the helper's path ("" = found on PATH).
    public var networkCommandPath: String { string("engine.network_cmd_path") ?? "" }
    /// `[engine] network_cmd_options`: the helper's options (`allow_host_loopback=true`, `mtu=1500`, ...).
    public var networkCommandOptions: [String] { strings("engine.network_cmd_options") }
    /// `[network] pasta_options`: pasta's arguments (and Podman's `--map-gw`), for the default network by pasta.
    public var pastaOptions: [String] { strings("network.pasta_options") }
    public var dnsServers: [String] { strings("containers.dns_servers") }
    public var dnsSearches: [String] { strings("containers.dns_searches") }
    public var dnsOptions: [String] { strings("containers.dns_options") }
    /// `[containers] base_hosts_file`: "" (Docker's default entries), "none", "image" or a path.
    public var baseHostsFile: String { string("containers.base_hosts_file") ?? "" }
    /// `[containers] host_containers_internal_ip`: "" = worked out.
    public var hostContainersInternalIP: String { string("containers.host_containers_internal_ip") ?? "" }

    /// Every effective setting as `origin<TAB>key=value`, schema order, like
    /// `git config --show-origin --list`; then the derived storage locations.
    public func listing(filter: String? = nil) -> [String] {
        var lines: [String] = []
        var seen: Set<String> = []
        func add(_ name: String, _ setting: Setting) {
            guard filter.map({ name == $0 || name.hasPrefix($0 + ".") }) ?? true else { return }
            lines.append("\(setting.origin)\t\(name)=\(setting.value)")
        }
        for file in [ConfigSchema.File.containers, .storage] {
            for spec in file.keys {
                if spec.key == "*" {
                    let prefix = spec.table + "."
                    for name in settings.keys.sorted() where name.hasPrefix(prefix) && !seen.contains(name)
                        && !name.dropFirst(prefix.count).contains(".") {
                        seen.insert(name)
                        add(name, settings[name]!)
                    }
                } else if let setting = settings[spec.name], !seen.contains(spec.name) {
                    seen.insert(spec.name)
                    add(spec.name, setting)
                }
            }
        }
        add("skiff.graphroot", graphRoot)
        add("skiff.runroot", runRoot)
        add("skiff.root", Setting(.string(skiffRoot), graphRoot.origin))
        add("skiff.runtime_dir", runtimeDirectory)
        return lines
    }
}
