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
/// answer within `ExecDenials.handOverTimeout`, or holds `RELAY_NOTIFY_EXECS` already) does this one answer
/// it itself, into the same files. When the exec ends, its records become `denied` events with
/// its `execID`.
extension ExecSupervisor {
    /// The container's files: its run directory is `<runtime directory>/containers/<id>`, beside
    /// the runtime root the exec was given.
    var containerPaths: ContainerPaths {
        let runtimeRoot = arguments.runtimeRoot
        let parent = runtimeRoot.lastIndex(of: "/").map { String(runtimeRoot[..<$0]) } ?? "."
        return ContainerPaths(skiffRoot: arguments.store, runtimeDirectory: parent, id: arguments.containerID)
    }

    var denials: ExecDenials {
        ExecDenials(paths: containerPaths, containerID: arguments.containerID, execID: arguments.execID,
                    privileged: arguments.privileged, healthcheck: false)
    }

    /// `takeListener` of `startExec`: true when the container's supervisor took the listener
    /// (this copy is closed then).
    func handOver(listener: Int32) -> Bool {
        if let refusal = denials.handOver(listener: listener) {
            printDiagnostic("explained denials: \(refusal); this supervisor answers the exec's refused calls")
            return false
        }
        close(listener)
        return true
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
        try denials.recordEvents(store, record)
    }

    func printDiagnostic(_ text: String) {
        let line = "skiff-monitor: exec \(arguments.execID.prefix(12)): \(text)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
