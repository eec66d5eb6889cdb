import CRuntime
import MonitorProtocol
import Platform
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// The container's interfaces on user-defined networks (docs/networking.md, "Containers on
/// user-defined networks"): one network namespace per user, held by `skiff-relay --keep-netns`
/// (made here on first need), with a bridge per network; a veth pair per endpoint, its peer moved
/// into the container's namespace, addressed and routed, all by the keeper at this monitor's
/// request (netlink) as soon as the container's namespaces exist. Nothing is torn down by hand:
/// the kernel removes a veth pair with the container's namespace, whoever ends the container.
///
/// Rootless, moving the peer takes CAP_NET_ADMIN over the owners of both namespaces, so the
/// container joins the user namespace the keeper is in (handed over on connect) rather than the
/// shared one's keeper (`SharedUserNamespace`) when they differ, and a new keeper is made in the
/// container's own user namespace.
extension Monitor {
    static let networkKeeperSocketName = ".netns.sock"
    static let networkKeeperLockName = ".netns.lock"
    /// Seconds the keeper stays with no container attached and no connection.
    static let networkKeeperIdleSeconds = 3

    var networkKeeperSocket: String { options.runtimeRoot + "/" + Monitor.networkKeeperSocketName }

    /// Before the create: when the container joins user networks and a keeper runs, its user
    /// namespace for the container to join (-1: none to join, or as root), with the keeper's
    /// connection kept until the endpoints are made (a keeper with a connection does not end).
    func userNamespaceForNetworks() -> Int32 {
        guard !options.endpoints.isEmpty else { return -1 }
        closeNetworkKeeper()
        guard connectNetworkKeeper() else { return -1 }
        return Monitor.isOwnUserNamespace(networkKeeper.userNamespace) ? -1 : networkKeeper.userNamespace
    }

    /// Right after the create: each endpoint made by the keeper (started when there is none) in
    /// the namespace the container's process handed over. A failure names the interface, the
    /// bridge and the keeper's step.
    func joinUserNetworks(_ namespaces: (network: Int32, user: Int32)) throws(MonitorError) {
        guard !options.endpoints.isEmpty else { return }
        defer { closeNetworkKeeper() }
        guard namespaces.network >= 0 else {
            throw MonitorError("network: the container's process did not hand over its network namespace")
        }
        let containerUser = namespaces.user >= 0 && !Monitor.isOwnUserNamespace(namespaces.user) ? namespaces.user : -1
        if networkKeeper.connection < 0 { try startNetworkKeeper(userNamespace: containerUser) }
        if containerUser >= 0 && !Monitor.sameNamespace(containerUser, networkKeeper.userNamespace) {
            throw MonitorError("network: the container is not in the user namespace of the network namespace keeper (pid \(networkKeeper.pid)): it cannot join user-defined networks")
        }
        for endpoint in options.endpoints {
            let step = "attach \(endpoint.interface) to \(endpoint.bridge)"
            try keeperRequest(endpoint.attachRequest, descriptor: namespaces.network, step: step, refusalStep: step)
        }
    }

    /// One request on the keeper's connection with `descriptor` attached, answered `ok`. `step`
    /// names it when the request cannot be made; the keeper's refusal (`error REASON`) follows
    /// `refusalStep` (nil: the reason names its step itself).
    func keeperRequest(_ request: String, descriptor: Int32, step: String, refusalStep: String?) throws(MonitorError) {
        var answer = [CChar](repeating: 0, count: 512)
        let rc = skiff_netns_keeper_request(networkKeeper.connection, request, descriptor, &answer, answer.count)
        guard rc == 0 else {
            throw MonitorError("network: \(step): the network namespace keeper (pid \(networkKeeper.pid)): \(errnoText(-rc))")
        }
        let text = String(cString: answer)
        guard text == "ok" else {
            let reason = text.hasPrefix("error ") ? String(text.dropFirst(6)) : text
            throw MonitorError("network: " + (refusalStep.map { "\($0): " } ?? "") + reason)
        }
    }

    /// A connection to the running keeper, when there is one.
    func connectNetworkKeeper() -> Bool {
        var userNamespace: Int32 = -1
        var pid: Int32 = 0
        let fd = skiff_netns_keeper_connect(networkKeeperSocket, &userNamespace, &pid)
        guard fd >= 0 else { return false }
        networkKeeper = NetworkKeeperConnection(connection: fd, userNamespace: userNamespace, pid: pid)
        return true
    }

    /// Connects to the keeper, or makes it (in `userNamespace`, -1: ours), under `.netns.lock` so
    /// that two monitors never make two.
    func startNetworkKeeper(userNamespace: Int32) throws(MonitorError) {
        let lockPath = options.runtimeRoot + "/" + Monitor.networkKeeperLockName
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw MonitorError("network: open \(lockPath): \(errnoText(errno))") }
        defer { close(lock) }
        guard Syscall.retrying({ flock(lock, LOCK_EX) }) == 0 else {
            throw MonitorError("network: flock \(lockPath): \(errnoText(errno))")
        }
        if connectNetworkKeeper() { return }
        let socket = networkKeeperSocket
        let listener = skiff_netns_keeper_listen(socket)
        guard listener >= 0 else { throw MonitorError("network: listen on \(socket): \(errnoText(-listener))") }
        defer { close(listener) }
        let relay = SelfExecutable.beside("skiff-relay")
        var argv: [UnsafeMutablePointer<CChar>?] = ([
            relay, "--keep-netns", socket, String(Monitor.networkKeeperIdleSeconds), userNamespace >= 0 ? "4" : "-",
        ] + uplinkCommandLine(userNamespace: userNamespace)).map { (text: String) in strdup(text) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let pid = skiff_netns_keeper_start(relay, &argv, listener, userNamespace)
        guard pid > 0 else {
            unlink(socket)
            throw MonitorError("network: start the network namespace keeper: \(errnoText(-pid))")
        }
        guard connectNetworkKeeper() else {
            throw MonitorError("network: the network namespace keeper (pid \(pid)) did not answer; see its diagnostics")
        }
    }

    func closeNetworkKeeper() {
        if networkKeeper.connection >= 0 { close(networkKeeper.connection) }
        if networkKeeper.userNamespace >= 0 { close(networkKeeper.userNamespace) }
        networkKeeper = NetworkKeeperConnection()
    }

    static func sameNamespace(_ a: Int32, _ b: Int32) -> Bool {
        var first = stat(), second = stat()
        guard fstat(a, &first) == 0, fstat(b, &second) == 0 else { return false }
        return first.st_ino == second.st_ino && first.st_dev == second.st_dev
    }
}

/// The monitor's connection to the network namespace keeper while a run's endpoints are made.
struct NetworkKeeperConnection {
    var connection: Int32 = -1
    var userNamespace: Int32 = -1
    var pid: Int32 = 0
}
