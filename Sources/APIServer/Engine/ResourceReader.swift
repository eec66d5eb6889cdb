import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Reads a running container's resource use for `GET /containers/{id}/stats` (`ResourceSample`),
/// in one pass over a few files and without starting a process:
///
/// - its cgroups: `/proc/<pid>/cgroup` of its process names them; a controller whose path
///   differs from the one its monitor (the relay) is in is the container's own (as root on
///   cgroup v1 the runtime makes `pids`, `memory`, `freezer` and, with a cpu limit, `cpu`).
///   Memory (memory.usage_in_bytes, max_usage, limit, failcnt, memory.stat), pids (pids.current,
///   pids.max), CPU (cpuacct.usage, usage_percpu, stat) and throttling (cpu.stat) come from the
///   ones it has;
/// - otherwise (rootless: no cgroup of its own on this host) summed from /proc over every
///   process of its pid namespace (or of its cgroup where it has a memory or pids one): utime
///   and stime, resident pages, threads; the memory limit is then the host's memory;
/// - block I/O from /proc/<pid>/io (read_bytes, write_bytes) of those processes (the
///   containers get no blkio cgroup; the device is unknown there: major and minor 0);
/// - networks from /proc/<pid>/net/dev when it has a network namespace of its own;
/// - the host's CPU time and online CPUs from /proc/stat.
///
/// It only reads: the cgroups are the runtime's to write (Tests/integration/test_boundaries.py).
struct ResourceReader {
    var cgroupRoot = ContainerCgroups.root
    var proc = "/proc"
    /// The cgroup2 mount (`CgroupHost`): a container's own cgroup there is read too (v2 stats).
    var unifiedMount = CgroupHost.current.unifiedMount
    /// The host's memory: the limit where the container has none (as moby caps a v1 limit).
    var hostMemory: UInt64
    private let ticks = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
    private let pageSize = UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
    private let buffer = ReadBuffer()

    init(hostMemory: UInt64) {
        self.hostMemory = hostMemory
    }

    /// A reading of the container whose first process is `pid`, its monitor being
    /// `monitorPID` (0: unknown); nil once that process is gone.
    func sample(pid: Int32, monitorPID: Int32) -> ResourceSample? {
        guard pid > 0, access("\(proc)/\(pid)", F_OK) == 0 else { return nil }
        let own = ownCgroups(pid: pid, monitorPID: monitorPID)
        var sample = ResourceSample()
        sample.read = Timestamp.now()

        let unified = ownUnifiedCgroup(pid: pid, monitorPID: monitorPID, mount: unifiedMount)
        let processes = members(pid: pid, cgroup: own["memory"] ?? own["pids"] ?? unified)
        var totals = ProcessTotals()
        for p in processes { add(p, to: &totals) }

        // CPU
        if let cpuacct = own["cpuacct"], let usage = number(cpuacct + "/cpuacct.usage") {
            sample.cpu.total = usage
            sample.cpu.perCPU = text(cpuacct + "/cpuacct.usage_percpu").map { $0.split(separator: " ").compactMap { UInt64($0) } }
            let stat = pairs(cpuacct + "/cpuacct.stat")
            sample.cpu.user = (stat.first { $0.0 == "user" }?.1 ?? 0) * 1_000_000_000 / ticks
            sample.cpu.kernel = (stat.first { $0.0 == "system" }?.1 ?? 0) * 1_000_000_000 / ticks
        } else {
            sample.cpu.user = totals.userTicks * 1_000_000_000 / ticks
            sample.cpu.kernel = totals.systemTicks * 1_000_000_000 / ticks
            sample.cpu.total = sample.cpu.user + sample.cpu.kernel
        }
        if let cpu = own["cpu"] {
            for (key, value) in pairs(cpu + "/cpu.stat") {
                switch key {
                case "nr_periods": sample.cpu.periods = value
                case "nr_throttled": sample.cpu.throttledPeriods = value
                case "throttled_time": sample.cpu.throttledTime = value
                default: break
                }
            }
        }
        (sample.cpu.system, sample.cpu.onlineCPUs) = hostCPU()

        // Memory
        var memory = ResourceSample.Memory()
        if let cgroup = own["memory"], let usage = number(cgroup + "/memory.usage_in_bytes") {
            memory.usage = usage
            memory.maxUsage = number(cgroup + "/memory.max_usage_in_bytes")
            memory.failcnt = number(cgroup + "/memory.failcnt")
            memory.stats = pairs(cgroup + "/memory.stat")
            let limit = number(cgroup + "/memory.limit_in_bytes") ?? hostMemory
            memory.limit = hostMemory > 0 && limit > hostMemory ? hostMemory : limit
        } else {
            memory.usage = totals.residentPages * pageSize
            memory.stats = [("rss", memory.usage), ("total_rss", memory.usage)]
            memory.limit = hostMemory
        }
        sample.memory = memory

        // Pids
        if let cgroup = own["pids"], let current = number(cgroup + "/pids.current") {
            sample.pids = (current, number(cgroup + "/pids.max"))
        } else {
            sample.pids = (totals.threads, nil)
        }

        sample.blockIO = [
            ResourceSample.BlockIO(major: 0, minor: 0, op: "Read", value: totals.readBytes),
            ResourceSample.BlockIO(major: 0, minor: 0, op: "Write", value: totals.writeBytes),
            ResourceSample.BlockIO(major: 0, minor: 0, op: "Total", value: totals.readBytes + totals.writeBytes),
        ]
        sample.networks = networks(pid: pid)
        if let unified { applyV2(unified, to: &sample) }
        return sample
    }

    /// controller -> directory of the cgroups that are the container's own: those whose path in
    /// `/proc/<pid>/cgroup` differs from its monitor's (or, the monitor gone, the service's).
    func ownCgroups(pid: Int32, monitorPID: Int32) -> [String: String] {
        guard pid > 0, let mine = cgroups(of: "\(proc)/\(pid)/cgroup") else { return [:] }
        var reference = monitorPID > 0 ? cgroups(of: "\(proc)/\(monitorPID)/cgroup") : nil
        if reference == nil { reference = cgroups(of: "\(proc)/self/cgroup") }
        var own: [String: String] = [:]
        for (controller, path) in mine where path != reference?[controller] {
            own[controller] = cgroupRoot + "/" + controller + path
        }
        return own
    }

    // MARK: - The container's processes

    /// Every process of the container: its cgroup's `cgroup.procs` where it has a memory or pids
    /// cgroup of its own; else every process in `pid`'s pid namespace (one pass over /proc: an
    /// exec'd process joins the namespace without descending from `pid`); `pid` and its
    /// descendants when it shares the host's pid namespace.
    func members(pid: Int32, cgroup: String?) -> [Int32] {
        if let cgroup, let procs = text(cgroup + "/cgroup.procs") {
            let pids = procs.split(separator: "\n").compactMap { Int32($0) }
            if !pids.isEmpty { return pids }
        }
        guard let namespace = link("\(proc)/\(pid)/ns/pid") else { return [pid] }
        if namespace == link("\(proc)/self/ns/pid") { return ContainerLifecycle.processTree(pid) }
        var result: [Int32] = []
        for entry in FileSystem.directoryEntries(proc) ?? [] {
            guard let p = Int32(entry), p > 0 else { continue }
            if p == pid || link("\(proc)/\(p)/ns/pid") == namespace { result.append(p) }
        }
        return result
    }

    struct ProcessTotals {
        var userTicks: UInt64 = 0
        var systemTicks: UInt64 = 0
        var threads: UInt64 = 0
        var residentPages: UInt64 = 0
        var readBytes: UInt64 = 0
        var writeBytes: UInt64 = 0
    }

    /// Adds one process's /proc/<pid>/stat (utime 14, stime 15, num_threads 20, rss 24) and
    /// /proc/<pid>/io (read_bytes, write_bytes).
    func add(_ pid: Int32, to totals: inout ProcessTotals) {
        if let stat = text("\(proc)/\(pid)/stat"), let close = stat.lastIndex(of: ")") {
            // Fields after the command (which may hold spaces): the first is field 3, state.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ n: Int) -> UInt64 { n - 3 < fields.count ? UInt64(fields[n - 3]) ?? 0 : 0 }
            totals.userTicks += field(14)
            totals.systemTicks += field(15)
            totals.threads += field(20)
            totals.residentPages += field(24)
        }
        for (key, value) in pairs("\(proc)/\(pid)/io", separator: ":") {
            if key == "read_bytes" { totals.readBytes += value } else if key == "write_bytes" { totals.writeBytes += value }
        }
    }

    // MARK: - Host and network

    /// The host's CPU time in nanoseconds (user, nice, system, idle, iowait, irq, softirq of the
    /// `cpu` line, as moby sums them) and the number of `cpuN` lines.
    func hostCPU() -> (UInt64, Int) {
        guard let stat = text("\(proc)/stat") else { return (0, 0) }
        var total: UInt64 = 0
        var cpus = 0
        for line in stat.split(separator: "\n") {
            guard line.hasPrefix("cpu") else { if cpus > 0 { break } else { continue } }
            let fields = line.split(separator: " ")
            if fields[0] == "cpu" {
                total = fields.dropFirst().prefix(7).reduce(0) { $0 + (UInt64($1) ?? 0) } * 1_000_000_000 / ticks
            } else {
                cpus += 1
            }
        }
        return (total, cpus)
    }

    /// The interfaces of `pid`'s network namespace, nil when that is the service's own (the
    /// host's network: not the container's traffic to report).
    func networks(pid: Int32) -> [ResourceSample.Interface]? {
        guard let namespace = link("\(proc)/\(pid)/ns/net"), namespace != link("\(proc)/self/ns/net"),
              let dev = text("\(proc)/\(pid)/net/dev") else { return nil }
        var result: [ResourceSample.Interface] = []
        // Two header lines, then `name: rx bytes packets errs drop fifo frame compressed multicast tx bytes packets errs drop ...`.
        for line in dev.split(separator: "\n").dropFirst(2) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let values = line[line.index(after: colon)...].split(separator: " ").map { UInt64($0) ?? 0 }
            guard values.count >= 12 else { continue }
            result.append(ResourceSample.Interface(
                name: String(line[..<colon].trimmingWhitespace),
                rxBytes: values[0], rxPackets: values[1], rxErrors: values[2], rxDropped: values[3],
                txBytes: values[8], txPackets: values[9], txErrors: values[10], txDropped: values[11]))
        }
        return result
    }

    // MARK: - Files

    /// controller -> path from a `/proc/<pid>/cgroup` (v1 lines `N:a,b:/path`; the v2 `0::` line
    /// and named hierarchies are left out); nil when it cannot be read.
    func cgroups(of file: String) -> [String: String]? {
        guard let content = text(file) else { return nil }
        var result: [String: String] = [:]
        for line in content.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[1].isEmpty else { continue }
            for controller in parts[1].split(separator: ",") where !controller.hasPrefix("name=") {
                result[String(controller)] = String(parts[2])
            }
        }
        return result
    }

    /// `key value` lines (`key: value` with `separator`), in order; lines that do not parse are skipped.
    func pairs(_ file: String, separator: Character = " ") -> [(String, UInt64)] {
        guard let content = text(file) else { return [] }
        return content.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: separator, maxSplits: 1)
            guard parts.count == 2, let value = UInt64(parts[1].trimmingWhitespace) else { return nil }
            return (String(parts[0]), value)
        }
    }

    func number(_ file: String) -> UInt64? {
        text(file).flatMap { UInt64($0[...].trimmingWhitespace) }
    }

    /// A small file (/proc, cgroupfs) read into the reader's buffer; nil when it cannot be read.
    func text(_ path: String) -> String? {
        buffer.read(path)
    }

    private func link(_ path: String) -> String? {
        var target = [CChar](repeating: 0, count: 128)
        let n = readlink(path, &target, target.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One buffer for the many small reads of a sample (no allocation per file beyond the text).
final class ReadBuffer: @unchecked Sendable {
    private var bytes = [UInt8](repeating: 0, count: 1 << 16)

    func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var text = ""
        while true {
            let n = bytes.withUnsafeMutableBytes { raw in Syscall.retrying { Glibc.read(fd, raw.baseAddress, raw.count) } }
            if n < 0 { return nil }
            if n == 0 { break }
            text += String(decoding: bytes[..<n], as: UTF8.self)
            if text.utf8.count > 1 << 22 { break }
        }
        return text
    }
}
