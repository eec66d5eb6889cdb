import CLinux
import MonitorProtocol
import Platform
import Runtime
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-monitor --health-probe MONITOR-ARGUMENTS...`: one run of a container's healthcheck
/// (docs/healthchecks.md). skiff-relay starts it when the schedule says (a child in its own
/// process group, killed with it when the container stops). It runs the check in the container
/// (the Runtime's `Container.startExec`, in a child of its own so that the timeout can kill it
/// with whatever it started; its refused calls explained, HealthProbe+Denials.swift), keeps the first 4096 bytes of its output, and records the result in the
/// Store as moby's handleProbeResult does, with a `health_status: STATUS` event when the status
/// changes. Its exit code tells the relay whether the status is still `starting`.
public enum HealthProbe {
    /// moby's maxOutputLen.
    public static let outputLimit = 4096

    /// The probe's exit codes: the status recorded is `starting` (the relay then uses the start
    /// interval), another status, or nothing recorded (the container is gone or stopped, or
    /// the arguments are wrong).
    public static let exitStarting: Int32 = 3
    public static let exitRecorded: Int32 = 0
    public static let exitNotRecorded: Int32 = 1

    public static func main(arguments: [String]) -> Int32 {
        guard let options = try? MonitorOptions(parsing: arguments), let schedule = options.health else {
            return exitNotRecorded
        }
        let startedMonotonic = Timestamp.monotonicNanos()
        let start = Timestamp.rfc3339Nano(Timestamp.now(), utc: true)
        guard let store = try? Store(root: options.store), let record = try? store.container(id: options.id),
              record.state == .running, let config = try? JSONParser.parse(record.config) else { return exitNotRecorded }
        let healthcheck = config["Config"]?["Healthcheck"]
        guard let command = HealthSchedule.command(test: strings(healthcheck?["Test"]),
                                                   shell: strings(config["Config"]?["Shell"])) else {
            return exitNotRecorded
        }
        // moby runs each check as an exec of the container, and its events say so:
        // `exec_create: CMD ARGS`, `exec_start: CMD ARGS` and `exec_die` (execID, exitCode).
        let execID = RandomID.make()
        let commandLine = command.joined(separator: " ")
        let execAttributes = record.eventAttributes(["execID": execID])
        _ = try? store.addEvent(type: "container", action: "exec_create: " + commandLine, actorID: options.id,
                                attributes: execAttributes)
        _ = try? store.addEvent(type: "container", action: "exec_start: " + commandLine, actorID: options.id,
                                attributes: execAttributes)
        let outcome = run(command, options: options, execID: execID, timeout: schedule.timeout)
        // Its refused calls (docs/denials.md), as an exec's: `denied` events before its exec_die.
        try? ExecDenials(paths: options.paths, containerID: options.id, execID: execID, privileged: false,
                         healthcheck: true).recordEvents(store, record)
        _ = try? store.addEvent(type: "container", action: "exec_die", actorID: options.id,
                                attributes: record.eventAttributes(["execID": execID, "exitCode": String(outcome.exitCode)]))
        let result = HealthResult(start: start, end: Timestamp.rfc3339Nano(Timestamp.now(), utc: true),
                                  exitCode: outcome.exitCode, output: outcome.output)
        let inStartPeriod = startedMonotonic &- options.runState.startedAt < schedule.startPeriod
        var status: String?
        do {
            let change = try store.updateHealth(options.id) { current, container -> HealthRecord? in
                // A result that comes after the container stopped is dropped (moby drops it once
                // the health monitor is stopped).
                guard container.state == .running, container.pid > 0,
                      let stat = ProcessStat.read(container.pid), stat.state != "Z" else { return nil }
                return HealthProbe.apply(result, to: current ?? HealthRecord(status: "starting"),
                                         retries: schedule.retries, inStartPeriod: inStartPeriod)
            }
            status = change?.after
            if let change, let after = change.after, change.before != after,
               let container = try store.container(id: options.id) {
                try store.addEvent(type: "container", action: "health_status: " + after, actorID: options.id,
                                   attributes: container.eventAttributes())
            }
        } catch {
            return exitNotRecorded
        }
        guard let status else { return exitNotRecorded }
        return status == "starting" ? exitStarting : exitRecorded
    }

    /// moby's handleProbeResult: the result joins the log (the last 5 kept); 0 makes the
    /// container healthy; another code adds to the failing streak (not while `starting` within
    /// the start period), and `retries` failures in a row make it unhealthy.
    public static func apply(_ result: HealthResult, to current: HealthRecord, retries: Int,
                             inStartPeriod: Bool) -> HealthRecord {
        var health = current
        health.log.append(result)
        if health.log.count > HealthRecord.logKept { health.log.removeFirst(health.log.count - HealthRecord.logKept) }
        if result.exitCode == 0 {
            health.failingStreak = 0
            health.status = "healthy"
        } else if !(health.status == "starting" && inStartPeriod) {
            health.failingStreak += 1
            if health.failingStreak >= retries { health.status = "unhealthy" }
        }
        return health
    }

    /// Go's time.Duration.String, as moby's timeout message shows the timeout: `30s`, `1m30s`,
    /// `500ms`, `1.5s`, `2h0m0s`.
    public static func goDuration(_ nanos: UInt64) -> String {
        if nanos == 0 { return "0s" }
        func fraction(_ value: UInt64, _ unit: UInt64) -> String {
            var text = String(value / unit)
            var rest = value % unit
            if rest > 0 {
                var digits = ""
                var scale = unit / 10
                while rest > 0 && scale > 0 {
                    digits.append(Character(String(rest / scale)))
                    rest %= scale
                    scale /= 10
                }
                text += "." + digits
            }
            return text
        }
        if nanos < 1_000 { return "\(nanos)ns" }
        if nanos < 1_000_000 { return fraction(nanos, 1_000) + "µs" }
        if nanos < 1_000_000_000 { return fraction(nanos, 1_000_000) + "ms" }
        let hours = nanos / 3_600_000_000_000
        let minutes = (nanos / 60_000_000_000) % 60
        let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000) + "s"
        if hours > 0 { return "\(hours)h\(minutes)m" + seconds }
        if minutes > 0 { return "\(minutes)m" + seconds }
        return seconds
    }

    /// Output kept as moby's limitedBuffer keeps it: the first `outputLimit` bytes of stdout and
    /// stderr together, `...` after them when more came.
    struct Output {
        var bytes: [UInt8] = []
        var truncated = false

        mutating func append(_ chunk: UnsafeRawBufferPointer) {
            let room = HealthProbe.outputLimit - bytes.count
            if room > 0 { bytes += chunk.prefix(room) }
            if chunk.count > max(room, 0) { truncated = true }
        }

        var text: String { String(decoding: bytes, as: UTF8.self) + (truncated ? "..." : "") }
    }

    /// Runs `command` in the container within `timeout`: the exit code and the output, or -1
    /// with moby's messages when it timed out or could not start.
    static func run(_ command: [String], options: MonitorOptions, execID: String,
                    timeout: UInt64) -> (exitCode: Int, output: String) {
        var output = [Int32](repeating: -1, count: 2)
        var failure = [Int32](repeating: -1, count: 2)
        guard skiff_pipe2(&output, O_CLOEXEC) == 0 else { return (-1, "health check: pipe: \(errnoText(errno))") }
        guard skiff_pipe2(&failure, O_CLOEXEC) == 0 else {
            close(output[0]); close(output[1])
            return (-1, "health check: pipe: \(errnoText(errno))")
        }
        let parent = getpid()
        let pid = skiff_monitor_fork()
        if pid == 0 {
            // The check's own process: stdout and stderr to the pipe, then the container.
            close(output[0]); close(failure[0])
            if skiff_monitor_probe_child(parent) != 0 { _exit(255) }
            // The probe's own diagnostics go where its standard error went, not into the output.
            let diagnostics = fcntl(2, F_DUPFD_CLOEXEC, 3)
            _ = dup2(output[1], 1)
            _ = dup2(output[1], 2)
            close(output[1])
            do {
                let container = try Container(id: options.id, root: options.runtimeRoot)
                _exit(try HealthProbe.exec(command, in: container, paths: options.paths, execID: execID,
                                        diagnostics: diagnostics))
            } catch {
                let message = Array("\(error)".utf8)
                _ = message.withUnsafeBytes { write(failure[1], $0.baseAddress, $0.count) }
                _exit(255)
            }
        }
        close(output[1]); close(failure[1])
        defer { close(output[0]); close(failure[0]) }
        guard pid > 0 else { return (-1, "health check: fork: \(errnoText(errno))") }
        _ = setpgid(pid, pid)
        _ = skiff_monitor_set_nonblocking(output[0])

        var kept = Output()
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        /// Reads what the pipe has now; false at EOF.
        func drain() -> Bool {
            while true {
                let n = chunk.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
                if n > 0 {
                    chunk.withUnsafeBytes { kept.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    continue
                }
                if n < 0 && (errno == EAGAIN || errno == EINTR) { return true }
                return false
            }
        }
        let deadline = Timestamp.monotonicNanos() &+ timeout
        var open = true
        var status: Int32 = 0
        var exited = false
        var timedOut = false
        while true {
            if Syscall.retrying({ waitpid(pid, &status, WNOHANG) }) == pid {
                exited = true
                if open { _ = drain() }
                break
            }
            let now = Timestamp.monotonicNanos()
            if now >= deadline {
                timedOut = true
                break
            }
            // Short slices: the check's end is seen by waitpid even when something it started
            // still holds the pipe open.
            let wait = Int32(min((deadline - now + 999_999) / 1_000_000, 20))
            if open {
                var fds = [pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)]
                if poll(&fds, 1, wait) > 0 { open = drain() }
            } else {
                usleep(UInt32(wait) * 1000)
            }
        }
        if !exited {
            // moby cancels the exec at the timeout: the check and what it started are killed.
            _ = kill(-pid, SIGKILL)
            _ = kill(pid, SIGKILL)
            _ = Syscall.retrying { waitpid(pid, &status, 0) }
            if open { _ = drain() }
        }
        if timedOut {
            let text = kept.text
            let head = "Health check exceeded timeout (\(goDuration(timeout)))"
            return (-1, text.isEmpty ? head : head + ": " + text)
        }
        var message = [UInt8](repeating: 0, count: 4096)
        let n = message.withUnsafeMutableBytes { read(failure[0], $0.baseAddress, $0.count) }
        if n > 0 { return (-1, String(decoding: message[0..<n], as: UTF8.self)) }
        let code = (status & 0x7f) == 0 ? Int((status >> 8) & 0xff) : 128 + Int(status & 0x7f)
        return (code, kept.text)
    }

    static func strings(_ value: JSON?) -> [String] {
        guard case .array(let values)? = value else { return [] }
        return values.compactMap { if case .string(let s) = $0 { return s }; return nil }
    }

}
