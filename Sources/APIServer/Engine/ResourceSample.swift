import Platform

#if canImport(Glibc)
import Glibc
#endif

/// One reading of a container's resource use, as `GET /containers/{id}/stats` reports it
/// (moby's `types.StatsJSON`, cgroup v1 shape): taken by `ResourceReader` from the container's
/// own cgroups where it has them, else summed from /proc over its processes. `json` renders
/// it with the previous reading as `precpu_stats`.
struct ResourceSample: Sendable, Equatable {
    /// When it was read (CLOCK_REALTIME).
    var read = timespec()

    struct CPU: Sendable, Equatable {
        /// Nanoseconds of CPU time the container used.
        var total: UInt64 = 0
        /// Per CPU, from cpuacct.usage_percpu (nil: no cpuacct cgroup of its own).
        var perCPU: [UInt64]?
        var kernel: UInt64 = 0
        var user: UInt64 = 0
        /// The host's CPU time (all CPUs, /proc/stat), nanoseconds; 0 in a document of zeros.
        var system: UInt64 = 0
        var onlineCPUs: Int = 0
        var periods: UInt64 = 0
        var throttledPeriods: UInt64 = 0
        var throttledTime: UInt64 = 0
    }
    var cpu = CPU()

    struct Memory: Sendable, Equatable {
        var usage: UInt64 = 0
        /// memory.max_usage_in_bytes; nil from /proc (no high-water mark there).
        var maxUsage: UInt64?
        var limit: UInt64 = 0
        var failcnt: UInt64?
        /// memory.stat as the cgroup gives it (cache, rss, total_inactive_file...), in its order;
        /// from /proc only rss and total_rss.
        var stats: [(String, UInt64)] = []

        static func == (a: Memory, b: Memory) -> Bool {
            a.usage == b.usage && a.maxUsage == b.maxUsage && a.limit == b.limit && a.failcnt == b.failcnt
                && a.stats.map(\.0) == b.stats.map(\.0) && a.stats.map(\.1) == b.stats.map(\.1)
        }
    }
    /// nil in a document of zeros.
    var memory: Memory?

    /// pids.current (tasks: threads count), and pids.max when it is a number.
    var pids: (current: UInt64, limit: UInt64?)?

    struct BlockIO: Sendable, Equatable {
        var major: UInt64
        var minor: UInt64
        var op: String
        var value: UInt64
    }
    /// nil in a document of zeros (Docker's `null` lists).
    var blockIO: [BlockIO]?

    struct Interface: Sendable, Equatable {
        var name: String
        var rxBytes: UInt64 = 0, rxPackets: UInt64 = 0, rxErrors: UInt64 = 0, rxDropped: UInt64 = 0
        var txBytes: UInt64 = 0, txPackets: UInt64 = 0, txErrors: UInt64 = 0, txDropped: UInt64 = 0
    }
    /// The interfaces of the container's own network namespace; nil when it shares the host's
    /// (as Docker omits `networks` for `--network host`) or in a document of zeros.
    var networks: [Interface]?

    static func == (a: ResourceSample, b: ResourceSample) -> Bool {
        a.read.tv_sec == b.read.tv_sec && a.read.tv_nsec == b.read.tv_nsec && a.cpu == b.cpu && a.memory == b.memory
            && a.pids?.current == b.pids?.current && a.pids?.limit == b.pids?.limit && a.blockIO == b.blockIO
            && a.networks == b.networks
    }

    /// Go's zero time, as a never-set `read`/`preread` is printed.
    static let zeroTime = "0001-01-01T00:00:00Z"

    /// The document: this reading, `previous` as precpu_stats/preread (zeros when nil), and the
    /// container's name (with `/`) and id. Fields and omissions as moby's `StatsJSON` (API 1.41).
    func json(previous: ResourceSample?, name: String, id: String) -> JSON {
        func time(_ ts: timespec?) -> JSON {
            guard let ts, ts.tv_sec != 0 || ts.tv_nsec != 0 else { return .string(ResourceSample.zeroTime) }
            return .string(Timestamp.rfc3339Nano(ts, utc: true))
        }
        var pidsMembers: [JSON.Member] = []
        if let pids {
            if pids.current != 0 { pidsMembers.append(JSON.Member("current", .uint(pids.current))) }
            if let limit = pids.limit, limit != 0 { pidsMembers.append(JSON.Member("limit", .uint(limit))) }
        }
        let blkioKeys = ["io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive", "io_service_time_recursive",
                         "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive", "sectors_recursive"]
        let blkio: [JSON.Member] = blkioKeys.map { key in
            guard key == "io_service_bytes_recursive", let blockIO else { return JSON.Member(key, .null) }
            return JSON.Member(key, .array(blockIO.map { entry in
                .object([JSON.Member("major", .uint(entry.major)), JSON.Member("minor", .uint(entry.minor)),
                         JSON.Member("op", .string(entry.op)), JSON.Member("value", .uint(entry.value))])
            }))
        }
        var members: [JSON.Member] = [
            JSON.Member("read", time(read)),
            JSON.Member("preread", time(previous?.read)),
            JSON.Member("pids_stats", .object(pidsMembers)),
            JSON.Member("blkio_stats", .object(blkio)),
            JSON.Member("num_procs", 0),
            JSON.Member("storage_stats", .object([])),
            JSON.Member("cpu_stats", ResourceSample.cpuJSON(cpu)),
            JSON.Member("precpu_stats", ResourceSample.cpuJSON(previous?.cpu ?? CPU())),
            JSON.Member("memory_stats", memory.map(ResourceSample.memoryJSON) ?? .object([])),
        ]
        if let networks {
            members.append(JSON.Member("networks", .object(networks.map { i in
                JSON.Member(i.name, .object([
                    JSON.Member("rx_bytes", .uint(i.rxBytes)), JSON.Member("rx_packets", .uint(i.rxPackets)),
                    JSON.Member("rx_errors", .uint(i.rxErrors)), JSON.Member("rx_dropped", .uint(i.rxDropped)),
                    JSON.Member("tx_bytes", .uint(i.txBytes)), JSON.Member("tx_packets", .uint(i.txPackets)),
                    JSON.Member("tx_errors", .uint(i.txErrors)), JSON.Member("tx_dropped", .uint(i.txDropped)),
                ]))
            })))
        }
        members += [JSON.Member("name", .string(name)), JSON.Member("id", .string(id))]
        return .object(members)
    }

    private static func cpuJSON(_ cpu: CPU) -> JSON {
        var usage: [JSON.Member] = [JSON.Member("total_usage", .uint(cpu.total))]
        if let perCPU = cpu.perCPU, !perCPU.isEmpty { usage.append(JSON.Member("percpu_usage", .array(perCPU.map { .uint($0) }))) }
        usage += [JSON.Member("usage_in_kernelmode", .uint(cpu.kernel)), JSON.Member("usage_in_usermode", .uint(cpu.user))]
        var members: [JSON.Member] = [JSON.Member("cpu_usage", .object(usage))]
        if cpu.system != 0 { members.append(JSON.Member("system_cpu_usage", .uint(cpu.system))) }
        if cpu.onlineCPUs != 0 { members.append(JSON.Member("online_cpus", .int(Int64(cpu.onlineCPUs)))) }
        members.append(JSON.Member("throttling_data", .object([
            JSON.Member("periods", .uint(cpu.periods)), JSON.Member("throttled_periods", .uint(cpu.throttledPeriods)),
            JSON.Member("throttled_time", .uint(cpu.throttledTime)),
        ])))
        return .object(members)
    }

    private static func memoryJSON(_ memory: Memory) -> JSON {
        var members: [JSON.Member] = []
        if memory.usage != 0 { members.append(JSON.Member("usage", .uint(memory.usage))) }
        if let max = memory.maxUsage, max != 0 { members.append(JSON.Member("max_usage", .uint(max))) }
        if !memory.stats.isEmpty { members.append(JSON.Member("stats", .object(memory.stats.map { JSON.Member($0.0, .uint($0.1)) }))) }
        if let failcnt = memory.failcnt, failcnt != 0 { members.append(JSON.Member("failcnt", .uint(failcnt))) }
        if memory.limit != 0 { members.append(JSON.Member("limit", .uint(memory.limit))) }
        return .object(members)
    }
}
