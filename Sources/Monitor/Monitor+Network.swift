import CLinux
import MonitorProtocol
import Platform
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// The container's user-mode network (docs/networking.md): slirp4netns, started right after the
/// container's namespaces exist (it joins them through /proc/PID/ns), in parallel with the
/// container's own set-up and the service's `start`; waited for only just before the program
/// runs, and its published ports added then. This process is its parent and holds the write end
/// of its `--exit-fd` pipe, across skiff-relay and back, so the helper ends when the run ends
/// (`endNetwork`) or when this process dies, whether the service runs or not.
extension Monitor {
    /// slirp4netns's API socket, in the run directory.
    static let networkSocketName = "net"

    /// Starts the helper for the container `created` (it joins the namespaces the container's
    /// process handed over, then they are closed here); nothing without a network.
    func startNetwork(_ created: CreatedProcess) throws(MonitorError) {
        let namespaces = created.namespaces
        if let pasta = options.pasta {
            // User-defined networks connected to a container on the default network (pasta's).
            do {
                try joinUserNetworks(namespaces)
            } catch {
                for fd in [namespaces.network, namespaces.user] where fd >= 0 { close(fd) }
                throw error
            }
            return try startPasta(pasta, namespaces)
        }
        defer { for fd in [namespaces.network, namespaces.user] where fd >= 0 { close(fd) } }
        try joinUserNetworks(namespaces)
        // A container on a user-defined network: its published TCP ports are forwarded into its
        // namespace (`publishOnUserNetworks`), with an exit pipe of the forwarder's own.
        if options.network == nil, !options.endpoints.isEmpty, (options.uplink?.portHandler ?? .rootlessport) == .rootlessport {
            keepForForwarder(exit: -1, namespaces)
        }
        guard let network = options.network else { return }
        guard namespaces.network >= 0 else {
            throw MonitorError("network: the container's process did not hand over its network namespace")
        }
        // Rootless, the helper joins the container's user namespace too (root: the same as ours).
        let user = namespaces.user >= 0 && !Monitor.isOwnUserNamespace(namespaces.user) ? namespaces.user : -1
        let ready = try Sys.pipe()
        let exit: (read: Int32, write: Int32)
        do {
            exit = try Sys.pipe()
        } catch {
            close(ready.read)
            close(ready.write)
            throw error
        }
        defer {
            close(ready.write)
            close(exit.read)
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        unlink(options.runDirectory + "/" + Monitor.networkSocketName)
        // The API socket is named through a descriptor of the run directory: its full path can
        // be longer than a socket address holds.
        let directory = open(options.runDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if directory >= 0 { close(directory) } }
        guard directory >= 0 else {
            close(ready.read)
            close(exit.write)
            throw MonitorError("network: open \(options.runDirectory): \(errnoText(errno))")
        }
        // Its descriptors: 0, 1 /dev/null, 2 this program's diagnostics, 3 ready, 4 exit, 5 the
        // run directory, 6 the network namespace, 7 the user namespace.
        let argv = network.commandLine(networkNamespace: "/proc/self/fd/6", userNamespace: user >= 0 ? "/proc/self/fd/7" : nil,
                                       readyFD: 3, exitFD: 4, apiSocket: "/proc/self/fd/5/" + Monitor.networkSocketName)
        var descriptors = [null, null, 2, ready.write, exit.read, directory, namespaces.network]
        if user >= 0 { descriptors.append(user) }
        let helper: pid_t
        do {
            helper = try Spawn.start(argv, Spawn.Options(descriptors: descriptors))
        } catch {
            close(ready.read)
            close(exit.write)
            throw MonitorError("network: start \(network.program): \(error)")
        }
        networkReadyFD = ready.read
        options.runState.networkHelper = NetworkHelperHandle(pid: helper, exitFD: exit.write)
        if network.portHandler == .rootlessport { keepForForwarder(exit: exit.read, namespaces) }
    }

    /// Whether `fd` is this process's own user namespace (same inode as /proc/self/ns/user).
    static func isOwnUserNamespace(_ fd: Int32) -> Bool {
        var given = stat(), own = stat()
        guard fstat(fd, &given) == 0, stat("/proc/self/ns/user", &own) == 0 else { return false }
        return given.st_ino == own.st_ino && given.st_dev == own.st_dev
    }

    /// Before the program runs: waits until the helper has configured the container's interface
    /// (up to 10 s), then forwards the published ports (`<run>/ports`, the service's).
    func finishNetwork() throws(MonitorError) {
        try publishOnUserNetworks()
        if let pasta = options.pasta { return try finishPasta(pasta) }
        guard let network = options.network, let helper = options.runState.networkHelper else { return }
        defer { closeForwarderSource() }
        if networkReadyFD >= 0 { try awaitNetworkReady(network.program, pid: helper.pid) }
        let ports = try publishedPorts()
        // TCP through the forwarder (`port_handler` rootlessport, the default), the rest by slirp4netns.
        let forwarded = network.portHandler == .rootlessport ? ports.filter { $0.proto == "tcp" } : []
        for port in ports where !forwarded.contains(port) {
            try forward(port, guest: network.containerAddress)
        }
        if !forwarded.isEmpty { try startForwarder(forwarded, target: network.containerAddress) }
    }

    /// The ports the service resolved for this start (`<run>/ports`); none without the file.
    func publishedPorts() throws(MonitorError) -> [PublishedPort] {
        let path = options.runDirectory + "/" + PublishedPort.fileName
        guard let bytes = try? FileSystem.readFile(path) else { return [] }
        guard let ports = PublishedPort.parse(file: String(decoding: bytes, as: UTF8.self)) else {
            throw MonitorError("network: \(path): not a list of ports")
        }
        return ports
    }

    /// Waits (10 s at most) for the helper's ready byte on `networkReadyFD`, which it closes.
    func awaitNetworkReady(_ program: String, pid: Int32) throws(MonitorError) {
        defer {
            close(networkReadyFD)
            networkReadyFD = -1
        }
        var fds = [pollfd(fd: networkReadyFD, events: Int16(POLLIN), revents: 0)]
        guard Sys.poll(&fds, timeout: 10_000) > 0 else {
            throw MonitorError("network: \(program) (pid \(pid)) was not ready within 10 s")
        }
        var byte: UInt8 = 0
        guard Syscall.retrying({ read(networkReadyFD, &byte, 1) }) == 1 else {
            throw MonitorError("network: \(program) (pid \(pid)) exited before the network was up; see \(options.paths.diagnostics)")
        }
    }

    /// One `add_hostfwd` on slirp4netns's API socket.
    func forward(_ port: PublishedPort, guest: String) throws(MonitorError) {
        let directory = open(options.runDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else {
            throw MonitorError("network: publish \(port.hostPort)/\(port.proto): open \(options.runDirectory): \(errnoText(errno))")
        }
        defer { close(directory) }
        let fd: Int32
        do {
            fd = try UnixSocket.connect("/proc/self/fd/\(directory)/" + Monitor.networkSocketName)
        } catch {
            throw MonitorError("network: publish \(port.hostPort)/\(port.proto): \(error)")
        }
        defer { close(fd) }
        let request = Array(port.addRequest(guest: guest).utf8)
        let written = request.withUnsafeBytes { bytes in Syscall.retrying { write(fd, bytes.baseAddress, bytes.count) } }
        guard written == request.count else {
            throw MonitorError("network: publish \(port.hostPort)/\(port.proto): write: \(errnoText(errno))")
        }
        _ = shutdown(fd, Int32(SHUT_WR))
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while reply.count < 65536 {
            let n = buffer.withUnsafeMutableBytes { bytes in Syscall.retrying { read(fd, bytes.baseAddress, bytes.count) } }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        guard let answer = try? JSONParser.parse(reply), case .object(let members) = answer else {
            throw MonitorError("network: publish \(port.hostPort)/\(port.proto): no answer from slirp4netns")
        }
        if members.contains(where: { $0.key == "return" }) { return }
        var text = "unknown error"
        if case .object(let error)? = members.first(where: { $0.key == "error" })?.value,
           case .string(let description)? = error.first(where: { $0.key == "desc" })?.value {
            text = description
        }
        let address = port.hostIP.isEmpty ? "0.0.0.0" : port.hostIP
        throw MonitorError("network: publish \(address):\(port.hostPort)/\(port.proto): slirp4netns: \(text)")
    }

    /// The run is over (or was never started): the helper's exit pipe closed, the helper reaped
    /// (within 1 s; the relay loop reaps it otherwise).
    func endNetwork() {
        if networkReadyFD >= 0 {
            close(networkReadyFD)
            networkReadyFD = -1
        }
        closePastaNamespaces()
        closeForwarderSource()
        guard let helper = options.runState.networkHelper else { return }
        options.runState.networkHelper = nil
        if options.pasta != nil { signalPasta(helper) }
        close(helper.exitFD)
        // slirp4netns takes 14-21 ms to exit after its exit pipe closes (measured here); the
        // container's namespace is gone, so it has nothing left to do: it is killed (its API
        // socket, below, is the only thing it leaves). The forwarder, in its place for a
        // container on a user-defined network, likewise. Only while it is still this process's
        // unreaped child (waitpid 0): its pid cannot be another process's then.
        // Even killed, it takes 14-26 ms to be gone (measured here: its tap device is
        // unregistered as its descriptor closes, a synchronous step in the kernel), most of what
        // the default network added to a `run --rm` while the exit was recorded only after it.
        // Nothing needs that wait unless the helper holds published ports (slirp4netns's own
        // forwards, pasta's), which must be free once the container is seen to have exited:
        // only then is it reaped here; otherwise before the next run (or not at all: below).
        var status: Int32 = 0
        if options.pasta == nil, waitpid(helper.pid, &status, WNOHANG) == 0 { kill(helper.pid, SIGKILL) }
        dyingHelper = helper.pid
        if !((try? publishedPorts()) ?? []).isEmpty { reapDyingHelper() }
        unlink(options.runDirectory + "/" + Monitor.networkSocketName)
    }

    /// Reaps the network helper `endNetwork` ended (within 1 s; a killed one within a fraction
    /// of a millisecond, looked at every 0.2 ms): before the exit is recorded when it held
    /// published ports, else before the next run is created. At this process's end it is not
    /// waited for (`waiting` false): the service sees a container removed (`run --rm`) when
    /// this process exits, and a helper still dying is reaped with this process by its reaper.
    /// Only this process's loop calls waitpid(-1) (CRelay, while a run is relayed), so the pid
    /// is still this process's unreaped child here.
    func reapDyingHelper(waiting: Bool = true) {
        guard dyingHelper > 0 else { return }
        defer { dyingHelper = -1 }
        var status: Int32 = 0
        for _ in 0..<(waiting ? 5_000 : 1) {
            if waitpid(dyingHelper, &status, WNOHANG) != 0 { return }
            usleep(200)
        }
    }
}
