import CLinux
import CRelay
import MonitorProtocol
import Platform
import Runtime

#if canImport(Glibc)
import Glibc
#endif

/// Explained denials of healthcheck probes (docs/denials.md): the check runs as an exec does,
/// with the container's filter and a listener of its own, which goes to the container's
/// supervisor (the probe's parent, skiff-relay or the monitor) over the control socket: its
/// refusals are answered with the errno they get without explanation and recorded with the
/// container's own (one rate limit, one record bound), labelled with the probe's exec id. A
/// check that is refused nothing costs one hand-over on the control socket. When the container's
/// supervisor does not take the listener (no control socket, no answer within
/// `ExecDenials.handOverTimeout`, a refusal), the probe's own process answers it until the check
/// ends; the check's background processes then get ENOSYS for refused calls after it ended (the
/// listener closes with the probe), as an exec's do when its supervisor answers.
extension HealthProbe {
    /// Runs `command` in `container` (in the probe's child, which waits for it): its exit code
    /// (128 + signal). `diagnostics`: the probe's standard error (the check's goes to its output).
    static func exec(_ command: [String], in container: Container, paths: ContainerPaths, execID: String,
                     diagnostics: Int32) throws -> Int32 {
        var options = Container.ExecOptions(args: command)
        options.explainDenials = true
        let denials = ExecDenials(paths: paths, containerID: paths.id, execID: execID, privileged: false, healthcheck: true)
        let own = OwnListener(paths: paths, execID: execID, diagnostics: diagnostics)
        defer { own.end() }
        let process = try container.startExec(options, takeListener: { listener in
            if let refusal = denials.handOver(listener: listener) {
                diagnostic("health check: explained denials: \(refusal); the probe answers the check's refused calls",
                           to: diagnostics)
                return false
            }
            close(listener)
            return true
        }, serveNotification: { own.serve($0) })
        if let listener = process.seccompListener {
            own.adopt(listener)
            return own.wait(for: process.pid)
        }
        var status: Int32 = 0
        guard Syscall.retrying({ waitpid(process.pid, &status, 0) }) >= 0 else {
            let e = errno
            throw RuntimeError(.system, "health check \(paths.id): wait for the check: \(errnoText(e))", errno: e)
        }
        return exitCode(status)
    }

    static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    static func diagnostic(_ text: String, to fd: Int32) {
        guard fd >= 0 else { return }
        let line = "skiff-monitor: " + text + "\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
    }

    /// The probe's own answers, when the container's supervisor did not take the listener: the
    /// relay's notify code (the same program, records and limits as an exec's supervisor's).
    final class OwnListener {
        let loop: UnsafeMutablePointer<relay>
        let paths: ContainerPaths
        let execID: String
        let diagnostics: Int32

        init(paths: ContainerPaths, execID: String, diagnostics: Int32) {
            self.paths = paths
            self.diagnostics = diagnostics
            self.execID = execID
            loop = UnsafeMutablePointer<relay>.allocate(capacity: 1)
            relay_init(loop)
        }

        deinit { loop.deallocate() }

        func adopt(_ listener: Int32) {
            guard loop.pointee.notify.fd != listener else { return }
            if relay_notify_configure(loop, listener, paths.run) != 0 {
                HealthProbe.diagnostic("health check: explained denials: \(paths.seccompProgram): "
                                       + String(cString: strerror(errno)), to: diagnostics)
            }
            relay_notify_label(loop, execID, false)
        }

        /// One notification (learning: the runtime's last calls before the check's program runs).
        func serve(_ listener: Int32) {
            adopt(listener)
            relay_notify_serve(loop)
        }

        /// Answers the listener until `pid` exits; its exit code.
        func wait(for pid: Int32) -> Int32 {
            let pidfd = skiff_pidfd_open(pid)
            defer { if pidfd >= 0 { close(pidfd) } }
            var status: Int32 = 0
            while true {
                if Syscall.retrying({ waitpid(pid, &status, WNOHANG) }) == pid { return HealthProbe.exitCode(status) }
                var fds = [pollfd(fd: loop.pointee.notify.fd, events: Int16(POLLIN), revents: 0)]
                if pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
                // Without a pidfd (before Linux 5.3): the exit is seen within a slice.
                let ready = poll(&fds, nfds_t(fds.count), pidfd >= 0 ? -1 : 20)
                if ready < 0 && errno != EINTR { return 255 }
                if ready > 0 && fds[0].revents & Int16(POLLIN) != 0 { relay_notify_serve(loop) }
            }
        }

        func end() {
            // Writes what the limits dropped and closes the listener.
            relay_notify_end(loop)
        }
    }
}
