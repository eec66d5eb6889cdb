import CLinux
import CRelay
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The hand-over to skiff-relay: one monitor runs per container, and while the container runs
/// this process only relays bytes. skiff-relay (C, installed beside this program) does that in a
/// fraction of this program's memory: this process execs it with the descriptors it holds (the
/// pid stays, so the container stays its child and it stays the subreaper), and it execs this
/// program back with `--exited` when the container's process has exited (`Monitor.resume`).
/// docs/containers.md, "The relay", has the command lines.
extension Monitor {
    /// Execs skiff-relay for the run that just started; returns only when it cannot (no
    /// skiff-relay beside this program, or exec failed): the run is then relayed here.
    func handOverToRelay(startedAt: UInt64) {
        // The state the relay starts from is a fresh run's: nothing read from clients yet.
        guard relay_is_fresh(loop), let monitor = SelfExecutable.path else { return }
        guard !exitsSoon() else { return }
        let relay = SelfExecutable.beside("skiff-relay")
        guard access(relay, X_OK) == 0 else { return }

        var back = options
        back.handBack = nil
        back.runState = RunState(startedAt: startedAt, restarts: restarts, backoffDelay: backoff.delay,
                                 networkHelper: options.runState.networkHelper)
        var inherited = [loop.pointee.log, loop.pointee.attach_listener, loop.pointee.control_listener]
        // The network helper's exit pipe stays open through skiff-relay and back (`Monitor+Network`).
        if let helper = options.runState.networkHelper { inherited.append(helper.exitFD) }
        var argv = [relay, "--pid", String(loop.pointee.pid), "--monitor", monitor, "--run-dir", options.runDirectory,
                    "--log-fd", String(loop.pointee.log), "--attach-fd", String(loop.pointee.attach_listener),
                    "--ctl-fd", String(loop.pointee.control_listener)]
        for (name, fd) in [("--stdin-fd", loop.pointee.stdin_fd), ("--stdout-fd", loop.pointee.stdout_fd),
                           ("--stderr-fd", loop.pointee.stderr_fd), ("--terminal-fd", loop.pointee.terminal)] where fd >= 0 {
            argv += [name, String(fd)]
            inherited.append(fd)
        }
        if loop.pointee.notify.fd >= 0 {
            argv += ["--notify-fd", String(loop.pointee.notify.fd)]
            inherited.append(loop.pointee.notify.fd)
            if loop.pointee.notify.first_nr >= 0 {
                argv += ["--notify-first", "\(loop.pointee.notify.first_nr),\(loop.pointee.notify.first_errno)"]
            }
            // The execs' listeners this process adopted (docs/denials.md).
            for exec in adoptedExecListeners() {
                argv += ["--notify-exec", "\(exec.fd),\(exec.id),\(exec.privileged ? 1 : 0)"]
                inherited.append(exec.fd)
            }
        }
        let lost = loop.pointee.log_lost
        if lost.bytes.0 > 0 || lost.bytes.1 > 0 { argv += ["--log-lost", "\(lost.bytes.0),\(lost.bytes.1),\(lost.err)"] }
        if options.tty { argv.append("--tty") }
        if options.stdin { argv.append("--stdin") }
        if options.stdinOnce { argv.append("--stdin-once") }
        let clients = (0..<loop.pointee.client_count).map { (relay_client_fd(loop, $0), relay_client_mask(loop, $0)) }
        if !clients.isEmpty {
            argv += ["--clients", clients.map { "\($0.0):" + ($0.1 >= 0 ? String($0.1) : "-") }.joined(separator: ",")]
            inherited += clients.map(\.0)
        }
        let controls = (0..<loop.pointee.control_count).map { relay_control_fd(loop, $0) }
        if !controls.isEmpty {
            argv += ["--controls", controls.map { String($0) }.joined(separator: ",")]
            inherited += controls
        }
        argv += healthRelayArguments(startedAt: startedAt)
        argv += ["--"] + back.arguments

        closeStore()
        for fd in inherited { _ = skiff_monitor_clear_cloexec(fd) }
        let cArgs = argv.map { strdup($0) } + [nil]
        execv(relay, cArgs)
        // Still here: exec failed. Everything goes back as it was.
        for p in cArgs { free(p) }
        for fd in inherited { _ = skiff_monitor_set_cloexec(fd) }
    }

    /// A quick command (`docker run --rm busybox true`) is finished here rather than by
    /// skiff-relay: two execs and this program's start again would cost more than the little
    /// relaying left. True when the run's process has exited, or does within `milliseconds`
    /// (its exit takes a moment: the kernel tears down its namespaces and mounts before it can
    /// be reaped); the status stays for `relayUntilExit` to reap.
    func exitsSoon(within milliseconds: UInt64 = 5) -> Bool {
        let deadline = Timestamp.monotonicNanos() &+ milliseconds * 1_000_000
        while true {
            // 1: exited; -ECHILD: not ours to wait for (the relay loop here sorts it out).
            if skiff_monitor_has_exited(loop.pointee.pid) != 0 { return true }
            let now = Timestamp.monotonicNanos()
            guard now < deadline else { return false }
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            let timeout = Int32((deadline - now + 999_999) / 1_000_000)
            if Sys.poll(&fds, timeout: timeout) > 0 {
                // A SIGCHLD: taken off the signalfd (both relay loops reap whatever is there).
                _ = skiff_monitor_read_signal(signals)
            }
        }
    }
}
