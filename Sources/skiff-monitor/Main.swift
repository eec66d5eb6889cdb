import CLinux
import Monitor
import MonitorProtocol
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-monitor`: one per started container, spawned by the service (see docs/containers.md).
/// It detaches (the service reaps the first process at once), then supervises the container.
/// skiff-relay execs it again (`--exited ...`) when the container's process exits: that process
/// is detached already and fd 3 is no sync socket then. `skiff-monitor --warm` is one spawned
/// before its container: it waits for its arguments on fd 3. `skiff-monitor --exec ...` is one
/// exec's supervisor (ExecSupervisor, docs/exec.md).
@main
enum SkiffMonitor {
    static func main() {
        // The descriptor limit the service was started with, not the one it raised for itself:
        // the container inherits it (FileLimit).
        FileLimit.restoreInherited()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--health-probe" {
            // One run of the container's healthcheck (HealthProbe), started by skiff-relay.
            exit(HealthProbe.main(arguments: Array(arguments.dropFirst())))
        }
        if MonitorOptions.isHandBack(arguments) {
            exit(Monitor.main(arguments: arguments, sync: MonitorChannel(fd: -1)))
        }
        let fd: Int32 = fcntl(3, F_GETFD) >= 0 ? 3 : -1
        if fd >= 0 { _ = skiff_monitor_set_cloexec(fd) }
        let sync = MonitorChannel(fd: fd)
        let pid = skiff_monitor_fork()
        if pid < 0 {
            let err = errno
            sync.failed(StartFailure(.monitor, errno: err, "fork: \(String(cString: strerror(err)))"))
            exit(1)
        }
        if pid > 0 { _exit(0) }
        _ = chdir("/")
        if arguments == ["--warm"] {
            // Spawned ahead of its container (the service's WarmMonitors): the arguments come on
            // fd 3 when a container is created or started (docs/containers.md).
            guard let given = Monitor.awaitArguments(sync: sync) else { exit(0) }
            exit(Monitor.main(arguments: given, sync: sync))
        }
        if ExecArguments.isExec(arguments) {
            // One exec's supervisor (docs/exec.md): detached the same way.
            exit(ExecSupervisor.main(arguments: arguments, sync: sync))
        }
        exit(Monitor.main(arguments: arguments, sync: sync))
    }
}
