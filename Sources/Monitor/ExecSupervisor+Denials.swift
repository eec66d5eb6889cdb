import CFDPass
import CRelay
import MonitorProtocol
import Platform
import Runtime
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Explained denials in exec (docs/denials.md). The exec's process gets the container's filter
/// with its own listener; this supervisor hands the listener to the container's supervisor
/// (skiff-relay, or the monitor), which answers and records it with the container's own: one
/// rate limit, one bound, one record file, one learned profile, and a listener kept until no
/// process is left under the exec's filter (an exec's background children go on being answered
/// after the exec ends). Only when the container's supervisor does not take it (it does not
/// answer within `handOverTimeout`, or holds `RELAY_NOTIFY_EXECS` already) does this one answer
/// it itself, into the same files. When the exec ends, its records become `denied` events with
/// its `execID`.
extension ExecSupervisor {
    /// How long the container's supervisor has to take the listener (a stopped one never does).
    static let handOverTimeout: Int32 = 2000

    /// The container's files: its run directory is `<runtime directory>/containers/<id>`, beside
    /// the runtime root the exec was given.
    var containerPaths: ContainerPaths {
        let runtimeRoot = arguments.runtimeRoot
        let parent = runtimeRoot.lastIndex(of: "/").map { String(runtimeRoot[..<$0]) } ?? "."
        return ContainerPaths(skiffRoot: arguments.store, runtimeDirectory: parent, id: arguments.containerID)
    }

    /// `takeListener` of `startExec`: true when the container's supervisor took the listener
    /// (this copy is closed then).
    func handOver(listener: Int32) -> Bool {
        let socket: Int32
        do {
            socket = try UnixSocket.connect(containerPaths.controlSocket)
        } catch {
            printDiagnostic("explained denials: \(error); this supervisor answers the exec's refused calls")
            return false
        }
        defer { close(socket) }
        let line = Array("\(SKIFF_CONTROL_NOTIFY) \(arguments.execID) \(arguments.privileged ? 1 : 0)\n".utf8)
        let sent = line.withUnsafeBytes { skiff_fd_send(socket, $0.baseAddress, $0.count, listener) }
        guard sent == 0 else {
            printDiagnostic("explained denials: send the listener: \(errnoText(-sent))")
            return false
        }
        let reply = readReply(socket)
        guard reply == SKIFF_NOTIFY_REPLY_OK else {
            printDiagnostic("explained denials: the container's supervisor answered '\(reply ?? "nothing")'; "
                            + "this supervisor answers the exec's refused calls")
            return false
        }
        close(listener)
        return true
    }

    /// The one-line answer, or nil when none came within `handOverTimeout`.
    func readReply(_ socket: Int32) -> String? {
        var bytes: [UInt8] = []
        let deadline = Timestamp.monotonicNanos() + UInt64(ExecSupervisor.handOverTimeout) * 1_000_000
        while bytes.count < 128 {
            let now = Timestamp.monotonicNanos()
            guard now < deadline else { return nil }
            var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
            let ready = Syscall.retrying { poll(&fds, 1, Int32((deadline - now) / 1_000_000) + 1) }
            guard ready > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 128)
            let n = chunk.withUnsafeMutableBytes { raw in Syscall.retrying { read(socket, raw.baseAddress, raw.count) } }
            guard n > 0 else { return nil }
            bytes += chunk[0..<n]
            if let end = bytes.firstIndex(of: 0x0A) {
                return String(decoding: bytes[..<end], as: UTF8.self)
            }
        }
        return nil
    }

    /// `serveNotification` of `startExec`, for a listener left here: this loop answers it into
    /// the container's files, labelled with the exec's id.
    func serveOwn(listener: Int32) {
        if loop.pointee.notify.fd != listener { adoptOwn(listener: listener) }
        relay_notify_serve(loop)
    }

    func adoptOwn(listener: Int32) {
        if relay_notify_configure(loop, listener, containerPaths.run) != 0 {
            printDiagnostic("explained denials: \(containerPaths.seccompProgram): \(String(cString: strerror(errno)))")
        }
        relay_notify_label(loop, arguments.execID, arguments.privileged)
    }

    /// When the exec ends: its records (at most `Monitor.denialEventsPerRun`) as `denied` events
    /// with its `execID`, before its `exec_die`.
    func recordDenialEvents(_ store: Store, _ record: ContainerRecord) throws {
        let paths = containerPaths
        guard let bytes = try? FileSystem.readFile(paths.denialRecords, limit: 1 << 20), !bytes.isEmpty else { return }
        let mine = DenialRecord.parse(Substring(String(decoding: bytes, as: UTF8.self))).records
            .filter { $0.belongs(toExec: arguments.execID) }
        guard !mine.isEmpty else { return }
        let reasons = DenialReasons.read(bundle: paths.bundle)
        for denial in mine.prefix(Monitor.denialEventsPerRun) {
            var extra = Monitor.deniedAttributes(denial, reasons: reasons)
            extra["execID"] = arguments.execID
            if denial.privileged { extra["privileged"] = "true" }
            try store.addEvent(type: "container", action: "denied", actorID: arguments.containerID,
                               attributes: record.eventAttributes(extra))
        }
    }

    func printDiagnostic(_ text: String) {
        let line = "skiff-monitor: exec \(arguments.execID.prefix(12)): \(text)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
