import MonitorProtocol
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Published TCP ports on the default network (docs/networking.md, "Published ports"): one
/// forwarder per run, `skiff-relay --forward-ports`, the role of Podman's rootlessport. It binds
/// the host ports in this process's network namespace, then joins the container's user and
/// network namespaces, and splices each accepted connection into one it makes to the container's
/// address there: kernel TCP on both sides, where slirp4netns's own forwarding runs a user-mode
/// TCP stack. It shares the network helper's exit pipe, so it ends with the run, or with this
/// process, whether the service runs or not; the relay loop reaps it.
extension Monitor {
    /// Keeps duplicates of the exit pipe's read end and the container's namespaces until `start`
    /// (the ports are known only then); nothing is kept when one cannot be duplicated (the
    /// forwarder then fails at start with the reason).
    func keepForForwarder(exit: Int32, _ namespaces: (network: Int32, user: Int32)) {
        closeForwarderSource()
        var kept: [Int32] = []
        for fd in [exit, namespaces.network, namespaces.user] {
            guard fd >= 0 else { kept.append(-1); continue }
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
            guard copy >= 0 else {
                for k in kept where k >= 0 { close(k) }
                return
            }
            kept.append(copy)
        }
        forwarderSource = kept
    }

    func closeForwarderSource() {
        for fd in forwarderSource where fd >= 0 { close(fd) }
        forwarderSource = []
    }

    /// Starts the forwarder for `ports` (TCP) to `target` in the container, and waits (10 s at
    /// most) for it to say the ports are bound and the namespaces joined.
    /// Without the network helper's exit pipe (a container on a user-defined network has no
    /// helper) the forwarder gets a pipe of its own and takes the helper's place in the run's
    /// state: its write end is held through skiff-relay and back, and closed, the forwarder
    /// reaped, when the run ends (`endNetwork`).
    func startForwarder(_ ports: [PublishedPort], target: String) throws(MonitorError) {
        guard forwarderSource.count == 3, forwarderSource[1] >= 0 else {
            throw MonitorError("network: publish ports: the container's namespaces were not kept for the forwarder")
        }
        var ownExit: (read: Int32, write: Int32)?
        if forwarderSource[0] < 0 {
            guard options.runState.networkHelper == nil else {
                throw MonitorError("network: publish ports: no exit pipe for the forwarder")
            }
            ownExit = try Sys.pipe()
        }
        defer { if let ownExit { close(ownExit.read) } }
        let (exit, network, user) = (ownExit?.read ?? forwarderSource[0], forwarderSource[1], forwarderSource[2])
        let joinsUser = user >= 0 && !Monitor.isOwnUserNamespace(user)
        let ready = try Sys.pipe()
        defer { close(ready.read) }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        // Its descriptors: 0, 1 /dev/null, 2 this program's diagnostics, 3 ready, 4 exit, 5 the
        // network namespace, 6 the user namespace (rootless).
        var argv = [SelfExecutable.beside("skiff-relay"), "--forward-ports", "3", "4", "5", joinsUser ? "6" : "-", target]
        argv += ports.map { "\($0.hostIP):\($0.hostPort):\($0.containerPort)" }
        var descriptors = [null, null, 2, ready.write, exit, network]
        if joinsUser { descriptors.append(user) }
        let pid: pid_t
        do {
            pid = try Spawn.start(argv, Spawn.Options(descriptors: descriptors))
        } catch {
            close(ready.write)
            if let ownExit { close(ownExit.write) }
            throw MonitorError("network: start the port forwarder: \(error)")
        }
        close(ready.write)
        if let ownExit { options.runState.networkHelper = NetworkHelperHandle(pid: pid, exitFD: ownExit.write) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while answer.count < 4096 {
            var fds = [pollfd(fd: ready.read, events: Int16(POLLIN), revents: 0)]
            guard Sys.poll(&fds, timeout: 10_000) > 0 else {
                kill(pid, SIGKILL)
                throw MonitorError("network: the port forwarder (pid \(pid)) did not answer within 10 s")
            }
            let n = buffer.withUnsafeMutableBytes { bytes in Syscall.retrying { read(ready.read, bytes.baseAddress, bytes.count) } }
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        while let last = answer.last, last == 10 || last == 32 { answer.removeLast() }
        let text = String(decoding: answer, as: UTF8.self)
        guard text == "ok" else {
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            throw MonitorError("network: \(text.isEmpty ? "the port forwarder (pid \(pid)) exited without a word" : text)")
        }
    }
}
