import CLinux
import Monitor

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-monitor`: one per started container, spawned by the service (see docs/containers.md).
/// It detaches (the service reaps the first process at once), then supervises the container.
@main
enum SkiffMonitor {
    static func main() {
        let sync: Int32 = fcntl(3, F_GETFD) >= 0 ? 3 : -1
        if sync >= 0 { _ = skiff_monitor_set_cloexec(sync) }
        let pid = skiff_monitor_fork()
        if pid < 0 {
            let text = "error fork: \(String(cString: strerror(errno)))"
            _ = text.withCString { skiff_monitor_send(sync, $0, strlen($0)) }
            exit(1)
        }
        if pid > 0 { _exit(0) }
        _ = chdir("/")
        exit(Monitor.main(arguments: Array(CommandLine.arguments.dropFirst()), sync: sync))
    }
}
