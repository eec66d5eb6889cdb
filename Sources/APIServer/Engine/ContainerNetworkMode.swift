#if canImport(Glibc)
import Glibc
#endif
import OCI
import Platform
import Store

/// `--network container:X` (HostConfig.NetworkMode `container:X`, docs/networking.md): the new
/// container joins the running container X's network namespace and gets X's /etc/hosts,
/// /etc/resolv.conf and host name, as Docker does. Checked at create with moby's conflicts
/// (`validateNetContainerMode`); X is looked up at create (404) and must run at each start
/// (409), when the bundle's network namespace is set to X's process's.
enum ContainerNetworkMode {
    static let prefix = "container:"

    /// X of `container:X`; nil for another mode.
    static func target(_ mode: String) -> String? {
        mode.hasPrefix(prefix) ? String(mode.dropFirst(prefix.count)) : nil
    }

    /// moby's runconfig checks for a container network mode, in its order (400 each).
    static func validate(_ host: CreateRequest.HostConfig, config: CreateRequest.ContainerConfig) throws {
        guard let target = target(host.networkMode) else { return }
        guard !target.isEmpty else {
            throw EngineError(.invalidArgument, "Invalid network mode: invalid container format container:<name|id>")
        }
        if !config.hostname.isEmpty {
            throw EngineError(.invalidArgument, "conflicting options: hostname and the network mode")
        }
        if !host.links.isEmpty {
            throw EngineError(.invalidArgument, "conflicting options: container type network can't be used with links. This would result in undefined behavior")
        }
        if !host.dns.isEmpty { throw EngineError(.invalidArgument, "conflicting options: dns and the network mode") }
        if !host.extraHosts.isEmpty {
            throw EngineError(.invalidArgument, "conflicting options: custom host-to-IP mapping and the network mode")
        }
        var publishes = host.publishAllPorts
        if case .object(let bindings)? = host.portBindings, !bindings.isEmpty { publishes = true }
        if publishes {
            throw EngineError(.invalidArgument, "conflicting options: port publishing and the container type network mode")
        }
        if !config.exposedPorts.isEmpty {
            throw EngineError(.invalidArgument, "conflicting options: port exposing and the container type network mode")
        }
    }

    /// X's record at create, for its host name and /etc files; nil when there is none yet (as
    /// moby, X is looked for at start: a 404 from create would make the docker CLI pull the image).
    static func joined(_ mode: String, engine: Engine) -> ContainerRecord? {
        guard let target = target(mode) else { return nil }
        return try? engine.withStore { try $0.resolveContainer(target) }
    }

    /// X's host name (its stored `Config.Hostname`), for the joining container's.
    static func hostname(of record: ContainerRecord) -> String? {
        guard let stored = try? StoredContainer(record), case .string(let name)? = stored.config["Hostname"] else { return nil }
        return name
    }

    /// X's /etc file `name` (hostname, hosts, resolv.conf) as the joining container gets it.
    static func etcFile(_ name: String, of record: ContainerRecord, engine: Engine) -> String? {
        guard let bytes = try? FileSystem.readFile(engine.config.skiffRoot + "/containers/" + record.id + "/" + name) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Before a start: X must run (409 moby's `cannot join network of a non running container:
    /// X`, 400 `cannot join own network`); the bundle's network namespace becomes X's process's.
    static func prepareStart(_ record: ContainerRecord, options: StoredContainer, bundle: String, engine: Engine) throws {
        guard let target = target(options.networkMode) else { return }
        let joined: ContainerRecord
        do {
            joined = try engine.withStore { try $0.resolveContainer(target) }
        } catch let error as StoreError where error.code == .notFound {
            throw EngineError(.notFound, "No such container: \(target)")
        }
        if joined.id == record.id { throw EngineError(.invalidArgument, "cannot join own network") }
        guard joined.state == .running || joined.state == .paused, joined.pid > 0 else {
            throw EngineError(.conflict, "cannot join network of a non running container: \(target)")
        }
        let path = "/proc/\(joined.pid)/ns/net"
        do {
            var spec = try Spec.load(bundle: bundle)
            var namespaces = spec.linux?.namespaces ?? []
            namespaces.removeAll { $0.type == "network" }
            namespaces.append(Spec.Namespace(type: "network", path: path))
            spec.linux?.namespaces = namespaces
            try FileSystem.writeAtomically(bundle + "/config.json", spec.bytes)
        } catch {
            throw EngineError(.internal, "starting \(record.id): join the network of \(joined.id): \(error)")
        }
    }
}
