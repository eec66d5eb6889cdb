import OCI
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A container's cgroup v2 cgroup made by systemd, as Podman's systemd cgroup manager makes it
/// (containers.conf `cgroup_manager = "systemd"`; the service asks for it with the annotation
/// `run.skiff.cgroup-manager=systemd`): a transient scope `skiff-<id>.scope` in `user.slice` of
/// the user's manager (session bus) rootless, in `machine.slice` of the system's (system bus) as
/// root, asked for with `StartTransientUnit` once the container's process exists (`PIDs`, with
/// `Delegate=yes` and the limits as systemd's resource properties). The scope's cgroup is then
/// `CgroupV2`'s (freeze, kill, OOM count, stats, exec'd processes written into it directly: it
/// is delegated); it ends with `StopUnit`, or by itself once empty.
struct SystemdScope: Sendable, Equatable {
    /// The annotation the service sets when containers.conf asks for the systemd manager.
    static let annotation = "run.skiff.cgroup-manager"
    /// state.json keys next to CgroupV2's `unified`.
    static let unitKey = "systemdUnit"
    static let busKey = "systemdBus"

    var unit: String
    var slice: String
    /// The bus systemd was found on.
    var bus: String
    /// The limits, sent as unit properties.
    var resources: Spec.Resources = Spec.Resources()

    static func unitName(id: String) -> String { "skiff-\(id).scope" }

    /// The slice's directory below the manager's root cgroup: `a-b.slice` is `a.slice/a-b.slice`.
    static func sliceDirectory(_ slice: String) -> String {
        guard slice != "-.slice", slice.hasSuffix(".slice") else { return "" }
        let parts = slice.dropLast(6).split(separator: "-")
        return (1...parts.count).map { parts.prefix($0).joined(separator: "-") + ".slice" }.joined(separator: "/")
    }

    /// The transient unit's properties, as Podman (crun, runc) send them: the process, the
    /// delegation, the slice and a description, then each limit in systemd's unit (D-Bus) form.
    static func properties(pid: Int32, slice: String, id: String, resources r: Spec.Resources) -> [(String, DBusValue)] {
        var list: [(String, DBusValue)] = [
            ("PIDs", .array(element: "u", [.uint32(UInt32(bitPattern: pid))])),
            ("Delegate", .bool(true)),
            ("Slice", .string(slice)),
            ("Description", .string("skiff container \(id)")),
        ]
        let infinity = UInt64.max
        if let limit = r.memoryLimit, limit != 0 { list.append(("MemoryMax", .uint64(limit > 0 ? UInt64(limit) : infinity))) }
        if let low = r.memoryReservation, low != 0 { list.append(("MemoryLow", .uint64(low > 0 ? UInt64(low) : infinity))) }
        if let swap = r.memorySwap, swap != 0, let value = CgroupV2.swapMax(memorySwap: swap, memory: r.memoryLimit) {
            list.append(("MemorySwapMax", .uint64(UInt64(value) ?? infinity)))
        }
        if let shares = r.cpuShares, shares != 0 { list.append(("CPUWeight", .uint64(CgroupV2.cpuWeight(shares: shares)))) }
        if let quota = r.cpuQuota, quota > 0 {
            // systemd's CPUQuota is CPU time per second of wall time, in microseconds.
            let period = r.cpuPeriod.flatMap { $0 > 0 ? $0 : nil } ?? 100_000
            list.append(("CPUQuotaPerSecUSec", .uint64(UInt64(quota) * 1_000_000 / period)))
            if period != 100_000 { list.append(("CPUQuotaPeriodUSec", .uint64(period))) }
        } else if let quota = r.cpuQuota, quota < 0 {
            list.append(("CPUQuotaPerSecUSec", .uint64(infinity)))
        }
        if let limit = r.pidsLimit, limit != 0 { list.append(("TasksMax", .uint64(limit > 0 ? UInt64(limit) : infinity))) }
        if let cpus = r.cpusetCpus, !cpus.isEmpty, let mask = bitmask(cpus) {
            list.append(("AllowedCPUs", .array(element: "y", mask.map { .byte($0) })))
        }
        if let mems = r.cpusetMems, !mems.isEmpty, let mask = bitmask(mems) {
            list.append(("AllowedMemoryNodes", .array(element: "y", mask.map { .byte($0) })))
        }
        if let weight = r.blkioWeight, weight != 0 {
            list.append(("IOWeight", .uint64(CgroupV2.ioWeight(blkioWeight: weight))))
        }
        return list
    }

    /// A cpuset list ("0-2,4") as systemd's bitmask bytes (bit n of byte n/8); nil when malformed.
    static func bitmask(_ list: String) -> [UInt8]? {
        var bits: [Int] = []
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let range = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(range.count), let low = Int(range[0]), let high = Int(range.last!), low <= high,
                  high < 8192 else { return nil }
            bits += Array(low...high)
        }
        guard let top = bits.max() else { return nil }
        var bytes = [UInt8](repeating: 0, count: top / 8 + 1)
        for bit in bits { bytes[bit / 8] |= 1 << UInt8(bit % 8) }
        return bytes
    }

    /// Asks systemd for the scope with `pid` in it and waits for the job; then checks that the
    /// process is in the cgroup expected (`path`).
    func start(pid: Int32, id: String, path: String, mount: String?, context: String) throws {
        let manager: SystemdManager
        do {
            manager = try SystemdManager(address: bus)
            try manager.startTransientUnit(unit, properties: SystemdScope.properties(pid: pid, slice: slice, id: id,
                                                                                      resources: resources))
        } catch {
            throw RuntimeError(.system, "\(context): systemd: StartTransientUnit \(unit): \(error)")
        }
        let actual = SystemdScope.unifiedPath(pid: pid).map { ($0 == "/" ? "" : $0) }
        guard let mount, let actual, mount + actual == path else {
            try? manager.stopUnit(unit)
            throw RuntimeError(.system, "\(context): systemd: scope \(unit): the process is in "
                               + "\(actual.map { "\(mount ?? "")\($0)" } ?? "no cgroup2 cgroup"), not in \(path)")
        }
    }

    /// Stops the unit (a unit already gone counts as stopped); the error text when systemd did
    /// not answer or refused.
    func stop() -> String? {
        do {
            try SystemdManager(address: bus).stopUnit(unit)
            return nil
        } catch {
            return "systemd: StopUnit \(unit): \(error)"
        }
    }

    /// The `0::` path of /proc/<pid>/cgroup.
    static func unifiedPath(pid: Int32) -> String? {
        guard let text = CgroupV1.read("/proc/\(pid)/cgroup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
        return nil
    }
}
