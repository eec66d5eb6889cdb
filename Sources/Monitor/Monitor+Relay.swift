import CLinux
import ContainerLogs
import MonitorProtocol
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The poll loop of one run: output to the log and to attach clients, stdin from them, resize
/// from control clients, SIGCHLD to find the end.
extension Monitor {
    private enum Slot {
        case signals, attachListener, controlListener, output(LogStream, Int32), terminal, stdin
        case client(AttachClient), control(ControlClient)
    }

    static let maximumClients = 128

    /// Relays until the container's process exits; returns its wait status after its last
    /// output is relayed.
    func relayUntilExit() -> Int32 {
        var status = reap()
        var buffer = [UInt8](repeating: 0, count: Monitor.chunk)
        if status == nil {
            // Setting up (the spec, SQLite, the runtime's plan) used heap that is free now: give
            // it back before the long wait, since one monitor runs per container.
            closeStore()
            _ = skiff_malloc_trim()
        }
        while status == nil {
            var fds: [pollfd] = []
            var slots: [Slot] = []
            func add(_ fd: Int32, _ events: Int32, _ slot: Slot) {
                fds.append(pollfd(fd: fd, events: Int16(events), revents: 0))
                slots.append(slot)
            }
            add(signals, POLLIN, .signals)
            add(attachListener, POLLIN, .attachListener)
            add(controlListener, POLLIN, .controlListener)
            // A client this far behind holds the output back (the container then blocks on a
            // full pipe), as Docker's attach does; nothing piles up in the monitor.
            let held = clients.contains { $0.backlog >= Monitor.clientBacklogLimit }
            if !held {
                if run.stdout >= 0 { add(run.stdout, POLLIN, .output(.stdout, run.stdout)) }
                if run.stderr >= 0 { add(run.stderr, POLLIN, .output(.stderr, run.stderr)) }
            }
            if run.terminal >= 0 && !run.terminalClosed {
                var events: Int32 = held ? 0 : POLLIN
                if !run.stdinPending.isEmpty { events |= POLLOUT }
                if events != 0 { add(run.terminal, events, .terminal) }
            } else if run.stdin >= 0 && !run.stdinPending.isEmpty {
                add(run.stdin, POLLOUT, .stdin)
            }
            let takesStdin = run.stdinPending.count < Monitor.stdinBacklogLimit
            for client in clients {
                var events: Int32 = 0
                if !client.inputClosed && (client.mask == nil || takesStdin) { events |= POLLIN }
                if client.backlog > 0 { events |= POLLOUT }
                add(client.fd, events, .client(client))
            }
            for control in controls { add(control.fd, POLLIN, .control(control)) }

            guard Sys.poll(&fds, timeout: -1) > 0 else { continue }
            for (index, slot) in slots.enumerated() {
                let revents = Int32(fds[index].revents)
                guard revents != 0 else { continue }
                switch slot {
                case .signals:
                    while skiff_monitor_read_signal(signals) > 0 {}
                    if let reaped = reap() { status = reaped }
                case .attachListener:
                    acceptAttachClients()
                case .controlListener:
                    acceptControlClients()
                case .output(let stream, let fd):
                    readOutput(fd, stream: stream, buffer: &buffer)
                case .terminal:
                    if revents & (POLLIN | POLLHUP | POLLERR) != 0 {
                        readOutput(run.terminal, stream: .stdout, buffer: &buffer)
                    }
                    if revents & POLLOUT != 0 { flushStdin() }
                case .stdin:
                    flushStdin()
                case .client(let client):
                    serve(client, revents: revents, buffer: &buffer)
                case .control(let control):
                    serve(control)
                }
            }
            flushStdin()
            pruneClients()
        }
        drainOutput(buffer: &buffer)
        return status!
    }

    /// Reaps every child that ended (we are a subreaper: orphans of the container come here);
    /// the container's process's status when it is among them.
    func reap() -> Int32? {
        var found: Int32?
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 {
                if pid < 0 && errno == EINTR { continue }
                break
            }
            if pid == run.pid { found = status }
        }
        return found
    }

    // MARK: - Output

    private func readOutput(_ fd: Int32, stream: LogStream, buffer: inout [UInt8]) {
        let n = buffer.withUnsafeMutableBytes { Sys.read(fd, $0) }
        if n > 0 {
            buffer.withUnsafeBytes { relay(UnsafeRawBufferPointer(rebasing: $0[0..<n]), stream: stream) }
        } else if n == -Int(EAGAIN) {
            return
        } else {
            outputEnded(fd)
        }
    }

    /// EOF (pipe) or EIO (pty: the slave side is closed).
    private func outputEnded(_ fd: Int32) {
        if fd == run.terminal {
            run.terminalClosed = true
        } else if fd == run.stdout {
            close(fd)
            run.stdout = -1
        } else if fd == run.stderr {
            close(fd)
            run.stderr = -1
        }
    }

    /// One chunk of the container's output: to the log, then to every client that asked for the
    /// stream (raw with a terminal, else in Docker's 8-byte frames).
    func relay(_ bytes: UnsafeRawBufferPointer, stream: LogStream) {
        try? log.append(bytes, stream: stream)
        let size = UInt32(bytes.count)
        let header: [UInt8] = [stream.frameType, 0, 0, 0, UInt8(size >> 24), UInt8(truncatingIfNeeded: size >> 16),
                               UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size)]
        for client in clients where client.wants(stream) {
            if !options.tty { header.withUnsafeBytes { client.enqueue($0) } }
            client.enqueue(bytes)
        }
    }

    /// After the process ended: what is left in the pipes or the pty, until EOF or until nothing
    /// came for 100 ms (a process that outlived it may hold a pipe open), within 2 s.
    func drainOutput(buffer: inout [UInt8]) {
        let deadline = Timestamp.monotonicNanos() + 2_000_000_000
        while Timestamp.monotonicNanos() < deadline {
            var fds: [pollfd] = []
            var streams: [LogStream] = []
            if run.stdout >= 0 { fds.append(pollfd(fd: run.stdout, events: Int16(POLLIN), revents: 0)); streams.append(.stdout) }
            if run.stderr >= 0 { fds.append(pollfd(fd: run.stderr, events: Int16(POLLIN), revents: 0)); streams.append(.stderr) }
            if run.terminal >= 0 && !run.terminalClosed {
                fds.append(pollfd(fd: run.terminal, events: Int16(POLLIN), revents: 0))
                streams.append(.stdout)
            }
            guard !fds.isEmpty, Sys.poll(&fds, timeout: 100) > 0 else { break }
            for (i, entry) in fds.enumerated() where entry.revents != 0 {
                readOutput(entry.fd, stream: streams[i], buffer: &buffer)
            }
        }
    }

    // MARK: - Stdin

    /// Writes pending client bytes to the container's stdin; closes it after them when asked.
    func flushStdin() {
        let target = run.stdinTarget
        if target >= 0 && !run.stdinPending.isEmpty {
            let n = run.stdinPending.withUnsafeBytes { Sys.write(target, $0) }
            if n > 0 {
                run.stdinPending.removeFirst(n)
                if run.stdinPending.isEmpty { run.stdinPending = [] }
            } else if n != -Int(EAGAIN) {
                // The reader is gone (EPIPE): nothing more can be written.
                run.stdinPending = []
                if run.terminal < 0 && run.stdin >= 0 {
                    close(run.stdin)
                    run.stdin = -1
                }
            }
        }
        if run.stdinPending.isEmpty && run.closeStdinWhenFlushed && run.terminal < 0 && run.stdin >= 0 {
            close(run.stdin)
            run.stdin = -1
        }
    }

    // MARK: - Attach clients

    func acceptAttachClients() {
        while true {
            let fd = skiff_monitor_accept(attachListener)
            guard fd >= 0 else { return }
            if clients.count >= Monitor.maximumClients {
                close(fd)
                continue
            }
            clients.append(AttachClient(fd: fd))
        }
    }

    /// Before `start`: the clients already queued get their mask read (each sends it right
    /// after connecting; within 1 s), so they see the first byte of output. Queued control
    /// lines (an initial resize) are applied too.
    func acceptQueuedClients() {
        acceptAttachClients()
        let deadline = Timestamp.monotonicNanos() + 1_000_000_000
        while Timestamp.monotonicNanos() < deadline {
            let waiting = clients.filter { $0.mask == nil && !$0.isDead }
            guard !waiting.isEmpty else { break }
            var fds = waiting.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard Sys.poll(&fds, timeout: 50) >= 0 else { break }
            for (i, client) in waiting.enumerated() where fds[i].revents != 0 {
                readMask(client)
            }
        }
        pruneClients()
        acceptControlClients()
        for control in controls { serve(control) }
        controls.removeAll { $0.isDead }
    }

    private func readMask(_ client: AttachClient) {
        var byte: UInt8 = 0
        let n = withUnsafeMutableBytes(of: &byte) { Sys.read(client.fd, $0) }
        if n == 1 {
            if let mask = AttachMask(byte: byte) { client.mask = mask } else { client.isDead = true }
        } else if n != -Int(EAGAIN) {
            client.isDead = true
        }
    }

    private func serve(_ client: AttachClient, revents: Int32, buffer: inout [UInt8]) {
        if revents & POLLOUT != 0 { client.flush() }
        let hungUp = revents & (POLLHUP | POLLERR) != 0
        if revents & POLLIN != 0 || hungUp {
            if client.mask == nil {
                readMask(client)
                if hungUp { client.isDead = true }
                return
            }
            readInput(client, buffer: &buffer, all: hungUp)
        }
        if hungUp {
            // Gone both ways: its stdin ends too.
            stdinEnded(by: client)
            client.isDead = true
        }
    }

    /// Bytes a client sent after its mask: the container's stdin when it asked for stdin and
    /// the container has one; dropped otherwise.
    private func readInput(_ client: AttachClient, buffer: inout [UInt8], all: Bool) {
        repeat {
            let room = all ? buffer.count : min(buffer.count, Monitor.stdinBacklogLimit - run.stdinPending.count)
            guard room > 0 else { return }
            let n = buffer.withUnsafeMutableBytes { Sys.read(client.fd, UnsafeMutableRawBufferPointer(rebasing: $0[0..<room])) }
            if n > 0 {
                if client.mask!.contains(.stdin) && options.stdin && run.stdinTarget >= 0 {
                    run.stdinPending.append(contentsOf: buffer[0..<n])
                }
                continue
            }
            if n == 0 {
                client.inputClosed = true
                stdinEnded(by: client)
            } else if n != -Int(EAGAIN) {
                client.isDead = true
                stdinEnded(by: client)
            }
            return
        } while all
    }

    /// --stdin-once: the container's stdin closes when the client that fed it stops.
    private func stdinEnded(by client: AttachClient) {
        guard options.stdinOnce, let mask = client.mask, mask.contains(.stdin) else { return }
        run.closeStdinWhenFlushed = true
    }

    func pruneClients() {
        for client in clients where client.isDead { client.close() }
        clients.removeAll { $0.isDead }
        for control in controls where control.isDead { close(control.fd) }
        controls.removeAll { $0.isDead }
    }

    /// After the process ended: sends what clients have not taken (within 5 s), then closes
    /// every attach connection.
    func closeClients() {
        let deadline = Timestamp.monotonicNanos() + 5_000_000_000
        while Timestamp.monotonicNanos() < deadline {
            let behind = clients.filter { !$0.isDead && !$0.flush() }
            guard !behind.isEmpty else { break }
            var fds = behind.map { pollfd(fd: $0.fd, events: Int16(POLLOUT), revents: 0) }
            _ = Sys.poll(&fds, timeout: 100)
        }
        for client in clients { client.close() }
        clients = []
    }

    // MARK: - Control clients

    func acceptControlClients() {
        while true {
            let fd = skiff_monitor_accept(controlListener)
            guard fd >= 0 else { return }
            if controls.count >= Monitor.maximumClients {
                close(fd)
                continue
            }
            controls.append(ControlClient(fd: fd))
        }
    }

    private func serve(_ control: ControlClient) {
        var bytes = [UInt8](repeating: 0, count: 512)
        while true {
            let n = bytes.withUnsafeMutableBytes { Sys.read(control.fd, $0) }
            if n == -Int(EAGAIN) { return }
            guard n > 0 else {
                control.isDead = true
                return
            }
            for line in control.lines.feed(bytes[0..<n]) {
                guard let command = ControlCommand(line: line) else { continue }
                apply(command)
            }
        }
    }

    func apply(_ command: ControlCommand) {
        switch command {
        case .resize(let rows, let columns):
            if run.terminal >= 0 { _ = skiff_monitor_set_winsize(run.terminal, rows, columns) }
        }
    }

    /// The run is over: clients closed, descriptors closed.
    func finishRun() {
        closeClients()
        closeRun()
    }
}
