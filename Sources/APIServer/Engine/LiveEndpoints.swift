#if canImport(Glibc)
import Glibc
#endif
import CRuntime
import MonitorProtocol
import Platform

/// `docker network connect` / `disconnect` of a running container (docs/networking.md,
/// "Connect and disconnect"): the service asks the per-user network namespace keeper
/// (`skiff-relay --keep-netns`, the one the monitors use) to add or remove one interface in the
/// container's network namespace, which it opens through `/proc/PID/ns/net` of the container's
/// process (rootless the service's user owns the container's user namespace, so it may; as root
/// it may anyway). No keeper running: one is made, as a monitor makes it, in the container's user
/// namespace.
///
/// The keeper moves an interface only into a namespace whose user namespace is its own; a
/// container in another one is refused with a sentence naming both, nothing made.
struct LiveEndpoints {
    /// The container's process (its pid in the service's pid namespace).
    let pid: Int32
    /// `<run>/runtime`: the keeper's socket and lock.
    let runtimeRoot: String
    let containerName: String
    /// containers.conf's user-mode network, the uplink a keeper made here runs (as the monitor's
    /// `--uplink`: docs/networking.md, "The uplink of user-defined networks"); nil: none.
    var uplink: UserModeNetwork?

    var socketPath: String { runtimeRoot + "/.netns.sock" }

    /// Adds `endpoint` to the running container; its interface is the lowest `ethN` (N from
    /// `firstIndex`) the container does not have. Returns the interface's name.
    func attach(_ endpoint: NetworkEndpoint, networkName: String, firstIndex: Int) throws -> String {
        let (network, user) = try namespaces()
        defer { close(network); if user >= 0 { close(user) } }
        let taken = try interfaces()
        var index = firstIndex
        while taken.contains("eth\(index)") { index += 1 }
        var wanted = endpoint
        wanted.interface = "eth\(index)"
        wanted.defaultRoute = false
        try request(wanted.attachRequest, network: network, user: user, what: "attach \(wanted.interface) to \(wanted.bridge)",
                    networkName: networkName)
        return wanted.interface
    }

    /// Removes the container's interface on the network with `subnet` (found by the subnet's
    /// route in the container's namespace).
    func detach(subnet: IPv4Subnet, networkName: String) throws {
        guard let interface = try interface(routing: subnet) else {
            throw EngineError(.internal, "network \(networkName): container \(containerName) has no interface with a route to \(subnet.description) while it runs")
        }
        let (network, user) = try namespaces()
        defer { close(network); if user >= 0 { close(user) } }
        try request("detach \(interface)", network: network, user: user, what: "detach \(interface)", networkName: networkName)
    }

    // MARK: - the container's namespaces

    /// The container's network namespace, and its user namespace when it is not the service's
    /// own (-1: root's containers, or a rootless service without one).
    private func namespaces() throws -> (network: Int32, user: Int32) {
        let network = open("/proc/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
        guard network >= 0 else {
            throw EngineError(.internal, "connecting container \(containerName): open /proc/\(pid)/ns/net: \(String(cString: strerror(errno)))")
        }
        let user = open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC)
        guard user >= 0 else {
            let code = errno
            close(network)
            throw EngineError(.internal, "connecting container \(containerName): open /proc/\(pid)/ns/user: \(String(cString: strerror(code)))")
        }
        if LiveEndpoints.sameNamespace(user, path: "/proc/self/ns/user") {
            close(user)
            return (network, -1)
        }
        return (network, user)
    }

    /// The names of the container's interfaces (`/proc/PID/net/dev`).
    func interfaces() throws -> Set<String> {
        let text = try readProc("net/dev")
        return Set(text.split(separator: "\n").dropFirst(2).compactMap { line in
            line.split(separator: ":", maxSplits: 1).first.map { String($0.drop(while: { $0 == " " })) }
        })
    }

    /// The interface of the container's route to `subnet` (`/proc/PID/net/route`: the route the
    /// kernel made for the interface's address; subnets of Skiff's networks never overlap).
    func interface(routing subnet: IPv4Subnet) throws -> String? {
        let text = try readProc("net/route")
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8, let destination = UInt32(fields[1], radix: 16),
                  let mask = UInt32(fields[7], radix: 16) else { continue }
            // The file shows the addresses in the kernel's (network) byte order, as hex of a
            // little-endian word.
            if UInt32(bigEndian: destination.littleEndian) == subnet.network
                && UInt32(bigEndian: mask.littleEndian) == subnet.mask {
                return String(fields[0])
            }
        }
        return nil
    }

    private func readProc(_ name: String) throws -> String {
        let path = "/proc/\(pid)/\(name)"
        do {
            return String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        } catch {
            throw EngineError(.internal, "container \(containerName): read \(path): \(error)")
        }
    }

    static func sameNamespace(_ fd: Int32, path: String) -> Bool {
        var given = stat(), other = stat()
        guard fstat(fd, &given) == 0, stat(path, &other) == 0 else { return false }
        return given.st_ino == other.st_ino && given.st_dev == other.st_dev
    }

    static func sameNamespace(_ a: Int32, _ b: Int32) -> Bool {
        var first = stat(), second = stat()
        guard fstat(a, &first) == 0, fstat(b, &second) == 0 else { return false }
        return first.st_ino == second.st_ino && first.st_dev == second.st_dev
    }

    // MARK: - the keeper

    /// One request to the keeper (made when none runs), after checking that the container is in
    /// the keeper's user namespace.
    private func request(_ text: String, network: Int32, user: Int32, what: String, networkName: String) throws {
        let keeper = try connect(user: user)
        defer {
            close(keeper.connection)
            close(keeper.userNamespace)
        }
        if user >= 0 && !LiveEndpoints.sameNamespace(user, keeper.userNamespace) {
            throw EngineError(.internal, "network \(networkName): cannot connect or disconnect container \(containerName) while it runs: it is in another user namespace than the network namespace keeper (pid \(keeper.pid)), which can move interfaces only into namespaces of its own user namespace (the container was started with id maps of its own, or before the keeper's namespace was made); stop the container, connect it, and start it again")
        }
        var answer = [CChar](repeating: 0, count: 512)
        let rc = skiff_netns_keeper_request(keeper.connection, text, network, &answer, answer.count)
        guard rc == 0 else {
            throw EngineError(.internal, "network \(networkName): \(what) of container \(containerName): the network namespace keeper (pid \(keeper.pid)): \(String(cString: strerror(-rc)))")
        }
        let reply = String(cString: answer)
        guard reply == "ok" else {
            let reason = reply.hasPrefix("error ") ? String(reply.dropFirst(6)) : reply
            throw EngineError(.internal, "network \(networkName): \(what) of container \(containerName): \(reason)")
        }
    }

    private struct Keeper {
        var connection: Int32
        var userNamespace: Int32
        var pid: Int32
    }

    private func hello() -> Keeper? {
        var userNamespace: Int32 = -1
        var pid: Int32 = 0
        let fd = skiff_netns_keeper_connect(socketPath, &userNamespace, &pid)
        return fd >= 0 ? Keeper(connection: fd, userNamespace: userNamespace, pid: pid) : nil
    }

    /// The running keeper, or a new one (in `user`, -1: the service's own) under `.netns.lock`,
    /// as the monitor makes it (`Monitor.startNetworkKeeper`).
    private func connect(user: Int32) throws -> Keeper {
        if let keeper = hello() { return keeper }
        let lockPath = runtimeRoot + "/.netns.lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw EngineError(.internal, "network: open \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        guard Syscall.retrying({ flock(lock, LOCK_EX) }) == 0 else {
            throw EngineError(.internal, "network: flock \(lockPath): \(String(cString: strerror(errno)))")
        }
        if let keeper = hello() { return keeper }
        let listener = skiff_netns_keeper_listen(socketPath)
        guard listener >= 0 else {
            throw EngineError(.internal, "network: listen on \(socketPath): \(String(cString: strerror(-listener)))")
        }
        defer { close(listener) }
        let relay = Engine.executableBeside("skiff-relay")
        // The monitor's idle time (Monitor.networkKeeperIdleSeconds).
        // The uplink's command line follows, for the descriptors the keeper gives it (as
        // `Monitor.uplinkCommandLine`): 3 ready, 4 exit, 5 the runtime root, 6 the keeper's
        // network namespace, 7 its user namespace.
        let uplinkArguments = uplink?.commandLine(networkNamespace: "/proc/self/fd/6",
                                                  userNamespace: user >= 0 ? "/proc/self/fd/7" : nil,
                                                  readyFD: 3, exitFD: 4, apiSocket: "/proc/self/fd/5/.uplink") ?? []
        var argv: [UnsafeMutablePointer<CChar>?] = ([relay, "--keep-netns", socketPath, "3", user >= 0 ? "4" : "-"] + uplinkArguments)
            .map { (text: String) in strdup(text) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let pid = skiff_netns_keeper_start(relay, &argv, listener, user)
        guard pid > 0 else {
            unlink(socketPath)
            throw EngineError(.internal, "network: start the network namespace keeper: \(String(cString: strerror(-pid)))")
        }
        guard let keeper = hello() else {
            throw EngineError(.internal, "network: the network namespace keeper (pid \(pid)) did not answer")
        }
        return keeper
    }
}
