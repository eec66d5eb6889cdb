import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `docker stats` from a cgroup v2 cgroup of the container's own (Runtime's CgroupV2 made it:
/// the delegated subtree, or the mount as root). Each file read where the kernel has it; a
/// controller the delegation lacks leaves its values as /proc gave them (on a hybrid host's
/// unified hierarchy only cpu.stat's usage is there). moby's cgroup v2 mapping:
/// - cpu.stat: usage_usec, user_usec, system_usec (x1000, ns); nr_periods, nr_throttled,
///   throttled_usec (x1000).
/// - memory.current (usage), memory.max (limit; "max": the host's memory), memory.peak
///   (max usage, Linux 5.19), memory.stat as it is (anon, file, inactive_file...), no failcnt.
/// - pids.current, pids.max ("max": none).
/// - io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...` per device, as "read"/"write".
extension ResourceReader {
    /// The container's own cgroup on the unified hierarchy, as a host directory: its `0::` path
    /// when it differs from its monitor's (the monitor gone: the service's). nil without one.
    func ownUnifiedCgroup(pid: Int32, monitorPID: Int32, mount: String?) -> String? {
        guard let mount, pid > 0, let mine = unifiedPath("\(proc)/\(pid)/cgroup") else { return nil }
        let reference = (monitorPID > 0 ? unifiedPath("\(proc)/\(monitorPID)/cgroup") : nil)
            ?? unifiedPath("\(proc)/self/cgroup")
        guard mine != reference else { return nil }
        return mine == "/" ? mount : mount + mine
    }

    /// The `0::` line's path of a /proc/<pid>/cgroup.
    func unifiedPath(_ file: String) -> String? {
        guard let content = text(file) else { return nil }
        for line in content.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
        return nil
    }

    /// Overwrites what `cgroup`'s v2 files give.
    func applyV2(_ cgroup: String, to sample: inout ResourceSample) {
        let cpu = pairs(cgroup + "/cpu.stat")
        if let usage = cpu.first(where: { $0.0 == "usage_usec" })?.1 {
            sample.cpu.total = usage * 1000
            sample.cpu.perCPU = nil
            for (key, value) in cpu {
                switch key {
                case "user_usec": sample.cpu.user = value * 1000
                case "system_usec": sample.cpu.kernel = value * 1000
                case "nr_periods": sample.cpu.periods = value
                case "nr_throttled": sample.cpu.throttledPeriods = value
                case "throttled_usec": sample.cpu.throttledTime = value * 1000
                default: break
                }
            }
        }
        if let usage = number(cgroup + "/memory.current") {
            var memory = ResourceSample.Memory()
            memory.usage = usage
            memory.maxUsage = number(cgroup + "/memory.peak")
            memory.stats = pairs(cgroup + "/memory.stat")
            let limit = number(cgroup + "/memory.max") ?? hostMemory   // "max" is no number
            memory.limit = hostMemory > 0 && limit > hostMemory ? hostMemory : limit
            sample.memory = memory
        }
        if let current = number(cgroup + "/pids.current") {
            sample.pids = (current, number(cgroup + "/pids.max"))
        }
        if let io = text(cgroup + "/io.stat") {
            sample.blockIO = ResourceReader.ioStat(io)
        }
    }

    /// io.stat lines as moby's v2 blkio entries: per device "read" (rbytes) and "write" (wbytes).
    static func ioStat(_ text: String) -> [ResourceSample.BlockIO] {
        var result: [ResourceSample.BlockIO] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let device = fields.first else { continue }
            let numbers = device.split(separator: ":")
            guard numbers.count == 2, let major = UInt64(numbers[0]), let minor = UInt64(numbers[1]) else { continue }
            for field in fields.dropFirst() {
                let kv = field.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, let value = UInt64(kv[1]) else { continue }
                switch kv[0] {
                case "rbytes": result.append(.init(major: major, minor: minor, op: "read", value: value))
                case "wbytes": result.append(.init(major: major, minor: minor, op: "write", value: value))
                default: break
                }
            }
        }
        return result
    }
}
