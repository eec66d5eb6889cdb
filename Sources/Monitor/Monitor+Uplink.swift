import CLinux
import CRuntime
import MonitorProtocol
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The uplink of user-defined networks (docs/networking.md, "The uplink of user-defined
/// networks"): the monitor that makes the network namespace keeper gives it slirp4netns's command
/// line (containers.conf's, `--uplink`), which the keeper runs attached to its namespace; a
/// container that publishes ports asks the keeper for each, just before its program runs, with a
/// pidfd of its process: the keeper drops the forward when that process ends, whoever ends it.
extension Monitor {
    /// slirp4netns's API socket, in the keeper's socket directory (the runtime root).
    static let uplinkSocketName = ".uplink"

    /// What follows USERNS-FD on the keeper's command line: slirp4netns's arguments for the
    /// descriptors the keeper's uplink process sets (3 ready, 4 exit, 5 the runtime root, 6 the
    /// keeper's network namespace, 7 its user namespace when rootless: `userNamespace` >= 0).
    func uplinkCommandLine(userNamespace: Int32) -> [String] {
        guard let uplink = options.uplink else { return [] }
        return uplink.commandLine(networkNamespace: "/proc/self/fd/6",
                                  userNamespace: userNamespace >= 0 ? "/proc/self/fd/7" : nil,
                                  readyFD: 3, exitFD: 4, apiSocket: "/proc/self/fd/5/" + Monitor.uplinkSocketName)
    }

    /// Before the program runs: each published port (`<run>/ports`) forwarded by the keeper to
    /// the container's address on its first network. A refusal names the port and the keeper's step.
    /// TCP ports go through Skiff's forwarder into the container's own namespace instead
    /// (`port_handler` rootlessport, the default; `Monitor+PortForwarder`), as on the default
    /// network: kernel TCP on both sides rather than slirp4netns's. Only a container whose own
    /// network (`NetworkMode`) is user-defined publishes here; one on the default network that
    /// was connected to user networks publishes on the default network.
    func publishOnUserNetworks() throws(MonitorError) {
        guard options.network == nil, options.pasta == nil, let endpoint = options.endpoints.first else { return }
        defer { closeForwarderSource() }
        let all = try publishedPorts()
        guard !all.isEmpty else { return }
        let handler = options.uplink?.portHandler ?? .rootlessport
        let forwarded = handler == .rootlessport ? all.filter { $0.proto == "tcp" } : []
        if !forwarded.isEmpty { try startForwarder(forwarded, target: endpoint.address) }
        let ports = all.filter { !forwarded.contains($0) }
        guard !ports.isEmpty else { return }
        let pidfd = skiff_pidfd_open(loop.pointee.pid)
        guard pidfd >= 0 else {
            throw MonitorError("network: publish: pidfd of the container's process \(loop.pointee.pid): \(errnoText(errno))")
        }
        defer { close(pidfd) }
        closeNetworkKeeper()
        defer { closeNetworkKeeper() }
        guard connectNetworkKeeper() else {
            throw MonitorError("network: publish: the network namespace keeper (\(networkKeeperSocket)) does not answer")
        }
        for port in ports {
            let host = port.hostIP.isEmpty ? "0.0.0.0" : port.hostIP
            let request = "publish \(port.proto) \(host) \(port.hostPort) \(endpoint.address) \(port.containerPort)"
            try keeperRequest(request, descriptor: pidfd, step: "publish \(host):\(port.hostPort)/\(port.proto)", refusalStep: nil)
        }
    }
}
