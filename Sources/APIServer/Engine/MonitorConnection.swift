import MonitorProtocol
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Talking to a container's monitor (docs/containers.md): its unix sockets in
/// `<run>/containers/<id>/` and whether it still runs.
public enum MonitorConnection {
    /// `<run>/containers/<id>`: the monitor's run directory (attach, ctl, exit).
    public static func runDirectory(_ engine: Engine, containerID: String) -> String {
        ContainerPaths(engine: engine, id: containerID).run
    }

    /// `<skiffRoot>/containers/<id>/ctr.log`.
    public static func logPath(_ engine: Engine, containerID: String) -> String {
        ContainerPaths(engine: engine, id: containerID).log
    }

    /// Connects to the unix stream socket `name` in `directory`. A path too long for
    /// `sun_path` is reached as `/proc/self/fd/<dirfd>/name` through the opened directory. Returns the descriptor (close-on-exec, blocking); the caller closes it.
    public static func connect(directory: String, name: String) throws(SystemError) -> Int32 {
        let path = directory + "/" + name
        if path.utf8.count < 108 {
            return try UnixSocket.connect(path)
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw SystemError(errno: errno, operation: "open", path: directory) }
        defer { close(dirfd) }
        do throws(SystemError) {
            return try UnixSocket.connect("/proc/self/fd/\(dirfd)/\(name)")
        } catch {
            throw SystemError(errno: error.errno, operation: "connect", path: path)
        }
    }

    /// Writes all of `bytes` to a blocking descriptor.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Syscall.retrying { send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL)) }
                if n < 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Sends `ControlCommand.resize` on the container's control socket. A size no terminal has
    /// (past 65535) is not sent: the relay would drop the line.
    public static func resize(_ engine: Engine, containerID: String, rows: UInt32, columns: UInt32) throws(SystemError) {
        let paths = ContainerPaths(engine: engine, id: containerID)
        let fd = try connect(directory: paths.run, name: ContainerPaths.controlName)
        defer { close(fd) }
        guard let rows = UInt16(exactly: rows), let columns = UInt16(exactly: columns) else { return }
        guard writeAll(fd, ControlCommand.resize(rows: rows, columns: columns).line) else {
            throw SystemError(errno: errno, operation: "write", path: paths.controlSocket)
        }
    }

    /// Whether the monitor recorded for `record` still runs: the pid exists and its
    /// `/proc/<pid>/stat` start time is the one recorded (a recycled pid is someone else).
    public static func isAlive(_ record: ContainerRecord) -> Bool {
        ProcessStat.isAlive(record.monitorPID, startTime: record.monitorStartTime)
    }
}
