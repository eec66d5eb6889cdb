import CLinux
import MonitorProtocol
import Platform
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// The default network by pasta (docs/networking.md, `PastaNetwork`): the same lifecycle as
/// slirp4netns (`Monitor+Network.swift`) with pasta's own means. pasta joins the namespaces the
/// container's process handed over; it is this process's child, in the foreground, asked for
/// SIGTERM should this process die (parent-death signal: pasta has no exit pipe), and held by a
/// pidfd (the handle's descriptor, kept across skiff-relay and back) that `endNetwork` signals.
/// Its ready signal is its pid file, a pipe here. A container that publishes ports gets its pasta
/// at `start`, when the service has resolved them (pasta takes them on its command line); one
/// that does not, right away, in parallel with the rest of the create.
extension Monitor {
    /// At create: starts pasta now, or keeps the namespaces until `finishPasta` when the
    /// container publishes ports. Owns `namespaces`' descriptors.
    func startPasta(_ pasta: PastaNetwork, _ namespaces: (network: Int32, user: Int32)) throws(MonitorError) {
        var kept = false
        defer { if !kept { for fd in [namespaces.network, namespaces.user] where fd >= 0 { close(fd) } } }
        closePastaNamespaces()
        guard namespaces.network >= 0 else {
            throw MonitorError("network: the container's process did not hand over its network namespace")
        }
        if pasta.publishes {
            pastaNamespaces = [namespaces.network, namespaces.user]
            kept = true
            return
        }
        try spawnPasta(pasta, network: namespaces.network, user: namespaces.user, ports: [])
    }

    /// Before the program runs: pasta started (with the published ports, `<run>/ports`) if it was
    /// not yet, then waited for until its interface is up (up to 10 s).
    func finishPasta(_ pasta: PastaNetwork) throws(MonitorError) {
        if options.runState.networkHelper == nil {
            guard pastaNamespaces.count == 2 else {
                throw MonitorError("network: pasta: the container's namespaces are gone")
            }
            defer { closePastaNamespaces() }
            try spawnPasta(pasta, network: pastaNamespaces[0], user: pastaNamespaces[1], ports: try publishedPorts())
        }
        guard let helper = options.runState.networkHelper, networkReadyFD >= 0 else { return }
        try awaitNetworkReady("pasta", pid: helper.pid)
    }

    /// Spawns pasta into the namespaces `network` (and `user`, rootless) with `ports`; records
    /// its handle (pid, pidfd) and its ready pipe's read end.
    func spawnPasta(_ pasta: PastaNetwork, network: Int32, user: Int32, ports: [PublishedPort]) throws(MonitorError) {
        let user = user >= 0 && !Monitor.isOwnUserNamespace(user) ? user : -1
        let ready = try Sys.pipe()
        defer { close(ready.write) }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        guard null >= 0 else {
            close(ready.read)
            throw MonitorError("network: pasta: open /dev/null: \(errnoText(errno))")
        }
        // Its descriptors: 0, 1 /dev/null, 2 this program's diagnostics, 3 the ready pipe (its
        // pid file), 4 the network namespace, 5 the user namespace.
        var descriptors = [null, null, 2, ready.write, network]
        if user >= 0 { descriptors.append(user) }
        let argv = pasta.commandLine(networkNamespace: "/proc/self/fd/4", userNamespace: user >= 0 ? "/proc/self/fd/5" : nil,
                                     readyPath: "/proc/self/fd/3", ports: ports)
        let pid = Monitor.spawnTied(argv, descriptors: descriptors)
        guard pid > 0 else {
            close(ready.read)
            throw MonitorError("network: start \(pasta.program): \(errnoText(-pid))")
        }
        let pidfd = skiff_pidfd_open(pid)
        guard pidfd >= 0 else {
            let code = errno
            kill(pid, SIGKILL)
            _ = Syscall.retrying { waitpid(pid, nil, 0) }
            close(ready.read)
            throw MonitorError("network: pasta (pid \(pid)): pidfd_open: \(errnoText(code))")
        }
        networkReadyFD = ready.read
        options.runState.networkHelper = NetworkHelperHandle(pid: pid, exitFD: pidfd)
    }

    /// fork + parent-death signal + exec (`skiff_spawn_tied`), with this process's environment.
    static func spawnTied(_ argv: [String], descriptors: [Int32]) -> Int32 {
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        return descriptors.withUnsafeBufferPointer { fds in
            skiff_spawn_tied(argv[0], cArgs, environ, fds.baseAddress, Int32(fds.count), SIGTERM)
        }
    }

    /// The namespaces kept for a pasta not started yet, closed.
    func closePastaNamespaces() {
        for fd in pastaNamespaces where fd >= 0 { close(fd) }
        pastaNamespaces = []
    }

    /// The run is over: pasta told to end (SIGTERM through its pidfd, so never a pid recycled
    /// meanwhile); `endNetwork` closes the pidfd and reaps it.
    func signalPasta(_ helper: NetworkHelperHandle) {
        closePastaNamespaces()
        _ = skiff_pidfd_send_signal(helper.exitFD, SIGTERM)
    }
}
