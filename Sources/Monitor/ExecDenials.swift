import CFDPass
import CRelay
import MonitorProtocol
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Explained denials of a process that joins a running container (docs/denials.md): an exec's
/// (`ExecSupervisor`) or a healthcheck probe's (`HealthProbe`). Its filter has a listener of its
/// own, offered to the container's supervisor over the control socket (`notify <id> <0|1>` with
/// the descriptor), which answers and records it with the container's own; when the exec ends,
/// its records become `denied` events with its `execID`.
struct ExecDenials {
    /// How long the container's supervisor has to take the listener (a stopped one never does).
    static let handOverTimeout: Int32 = 2000

    let paths: ContainerPaths
    let containerID: String
    let execID: String
    let privileged: Bool
    /// A healthcheck probe's (its events say `healthcheck: true`).
    let healthcheck: Bool

    /// Offers `listener` to the container's supervisor: nil when it took it (the caller closes
    /// its copy then), else why not (the caller answers the listener itself).
    func handOver(listener: Int32) -> String? {
        let socket: Int32
        do {
            socket = try UnixSocket.connect(paths.controlSocket)
        } catch {
            return "\(error)"
        }
        defer { close(socket) }
        let line = Array("\(SKIFF_CONTROL_NOTIFY) \(execID) \(privileged ? 1 : 0)\n".utf8)
        let sent = line.withUnsafeBytes { skiff_fd_send(socket, $0.baseAddress, $0.count, listener) }
        guard sent == 0 else { return "send the listener to \(paths.controlSocket): \(errnoText(-sent))" }
        let reply = ExecDenials.readReply(socket)
        guard reply == SKIFF_NOTIFY_REPLY_OK else {
            return "the container's supervisor answered '\(reply ?? "nothing")'"
        }
        return nil
    }

    /// The one-line answer, or nil when none came within `handOverTimeout`.
    static func readReply(_ socket: Int32) -> String? {
        var bytes: [UInt8] = []
        let deadline = Timestamp.monotonicNanos() + UInt64(handOverTimeout) * 1_000_000
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

    /// This exec's records.
    func records() -> [DenialRecord] {
        guard let bytes = try? FileSystem.readFile(paths.denialRecords, limit: 1 << 20), !bytes.isEmpty else { return [] }
        return DenialRecord.parse(Substring(String(decoding: bytes, as: UTF8.self))).records
            .filter { $0.belongs(toExec: execID) }
    }

    /// When the exec ends: its records (at most `Monitor.denialEventsPerRun`) as `denied` events
    /// with its `execID`, before its `exec_die`; a probe's id also goes to `denialProbes`.
    func recordEvents(_ store: Store, _ record: ContainerRecord) throws {
        let mine = records()
        guard !mine.isEmpty else { return }
        if healthcheck { noteProbe() }
        let reasons = DenialReasons.read(bundle: paths.bundle)
        for denial in mine.prefix(Monitor.denialEventsPerRun) {
            var extra = Monitor.deniedAttributes(denial, reasons: reasons)
            extra["execID"] = execID
            if denial.privileged { extra["privileged"] = "true" }
            if healthcheck { extra["healthcheck"] = "true" }
            try store.addEvent(type: "container", action: "denied", actorID: containerID,
                               attributes: record.eventAttributes(extra))
        }
    }

    func noteProbe() {
        let path = paths.denialProbes
        let fd = Syscall.retrying { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { return }
        defer { close(fd) }
        let line = Array((String(execID.prefix(DenialRecord.execIDLength)) + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
