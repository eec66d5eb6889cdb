import CLinux
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Small wrappers over the calls the monitor makes (EINTR retried through Platform's `Syscall`).
enum Sys {
    static func pipe() throws(MonitorError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard skiff_pipe2(&fds, O_CLOEXEC) == 0 else { throw MonitorError("pipe: \(errnoText(errno))") }
        return (fds[0], fds[1])
    }

    static func openDevNull() throws(MonitorError) -> Int32 {
        let fd = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw MonitorError("open /dev/null: \(errnoText(errno))") }
        return fd
    }

    /// poll(2), retrying EINTR with the same timeout.
    static func poll(_ fds: inout [pollfd], timeout: Int32) -> Int32 {
        fds.withUnsafeMutableBufferPointer { buffer in
            Syscall.retrying { Glibc.poll(buffer.baseAddress, nfds_t(buffer.count), timeout) }
        }
    }

    /// Field 22 of /proc/PID/stat (start time in clock ticks), 0 when unreadable.
    static func startTime(of pid: Int32) -> UInt64 {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/stat", limit: 4096) else { return 0 }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) ?? 0 : 0
    }

    static func nowNanos() -> Int64 {
        let ts = Timestamp.now()
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Sleeps until `nanoseconds` from now on the monotonic clock, however often a signal
    /// interrupts it.
    static func sleep(nanoseconds: UInt64) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanos = UInt64(deadline.tv_nsec) + nanoseconds % 1_000_000_000
        deadline.tv_sec += Int(nanoseconds / 1_000_000_000 + nanos / 1_000_000_000)
        deadline.tv_nsec = Int(nanos % 1_000_000_000)
        _ = Syscall.retryingReturnedError { clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nil) }
    }
}

func errnoText(_ value: Int32) -> String {
    String(cString: strerror(value))
}

/// A unix socket listening in a directory, reached through `/proc/self/fd/<dirfd>/<name>` when
/// the plain path does not fit `sun_path`.
enum Listener {
    static func listen(directory: String, name: String) throws(MonitorError) -> Int32 {
        let path = directory + "/" + name
        var fd = skiff_monitor_listen(path, 128)
        if fd == -ENAMETOOLONG {
            let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { throw MonitorError("open \(directory): \(errnoText(errno))") }
            defer { close(dir) }
            fd = skiff_monitor_listen("/proc/self/fd/\(dir)/\(name)", 128)
        }
        guard fd >= 0 else { throw MonitorError("listen \(path): \(errnoText(-fd))") }
        return fd
    }
}
