import OCI
import Platform
import Testing
@testable import Runtime

/// The systemd manager's unit properties (SystemdScope): names and D-Bus types as systemd's
/// org.freedesktop.systemd1 API takes them, values converted as runc/crun convert them.
struct SystemdScopeTests {
    @Test func theProcessDelegationAndSlice() {
        let list = SystemdScope.properties(pid: 77, slice: "user.slice", id: "c1", resources: Spec.Resources())
        #expect(list.map(\.0) == ["PIDs", "Delegate", "Slice", "Description"])
        #expect(list.map(\.1.signature) == ["au", "b", "s", "s"])
        #expect(list.map(\.1) == [.array(element: "u", [.uint32(77)]), .bool(true), .string("user.slice"),
                                   .string("skiff container c1")])
    }

    @Test func everyLimitAsItsProperty() {
        let r = Spec.Resources(pidsLimit: 100, memoryLimit: 64 << 20, memoryReservation: 32 << 20, memorySwap: 128 << 20,
                               cpuShares: 1024, cpuQuota: 50_000, cpuPeriod: 200_000, cpusetCpus: "0-1,9", cpusetMems: "0",
                               blkioWeight: 1000)
        let props = Dictionary(uniqueKeysWithValues: SystemdScope.properties(pid: 1, slice: "machine.slice", id: "c", resources: r)
            .map { ($0.0, $0.1) })
        #expect(props["MemoryMax"] == .uint64(64 << 20))
        #expect(props["MemoryLow"] == .uint64(32 << 20))
        #expect(props["MemorySwapMax"] == .uint64(64 << 20))
        #expect(props["CPUWeight"] == .uint64(39))
        #expect(props["CPUQuotaPerSecUSec"] == .uint64(250_000))   // 50 ms per 200 ms
        #expect(props["CPUQuotaPeriodUSec"] == .uint64(200_000))
        #expect(props["TasksMax"] == .uint64(100))
        #expect(props["AllowedCPUs"] == .array(element: "y", [.byte(0b11), .byte(0b10)]))
        #expect(props["AllowedMemoryNodes"] == .array(element: "y", [.byte(1)]))
        #expect(props["IOWeight"] == .uint64(10_000))
        // Unlimited forms: systemd's infinity.
        let unlimited = Dictionary(uniqueKeysWithValues: SystemdScope.properties(
            pid: 1, slice: "s.slice", id: "c", resources: Spec.Resources(pidsLimit: -1, memoryLimit: -1, cpuQuota: -1))
            .map { ($0.0, $0.1) })
        #expect(unlimited["TasksMax"] == .uint64(.max) && unlimited["MemoryMax"] == .uint64(.max))
        #expect(unlimited["CPUQuotaPerSecUSec"] == .uint64(.max))
    }

    @Test(arguments: [("0", [UInt8(1)]), ("0-7", [255]), ("8", [0, 1]), ("1,3", [0b1010])])
    func cpuListsAsBitmasks(list: String, mask: [UInt8]) {
        #expect(SystemdScope.bitmask(list) == mask)
    }

    @Test(arguments: ["", "a", "3-1", "1-", "0,,1"])
    func malformedListsHaveNoMask(list: String) {
        #expect(SystemdScope.bitmask(list) == nil)
    }

    @Test(arguments: [("user.slice", "user.slice"), ("machine.slice", "machine.slice"),
                      ("a-b-c.slice", "a.slice/a-b.slice/a-b-c.slice"), ("-.slice", "")])
    func sliceDirectories(slice: String, directory: String) {
        #expect(SystemdScope.sliceDirectory(slice) == directory)
    }

    @Test func theStateRecordNamesTheUnitAndBus() throws {
        var cgroup = CgroupV2(base: "/sys/fs/cgroup/b", path: "/sys/fs/cgroup/b/user.slice/skiff-c.scope")
        cgroup.scope = SystemdScope(unit: "skiff-c.scope", slice: "user.slice", bus: "unix:path=/run/user/1000/bus")
        #expect(cgroup.recorded == ["unified": "/sys/fs/cgroup/b/user.slice/skiff-c.scope", "systemdUnit": "skiff-c.scope",
                                    "systemdBus": "unix:path=/run/user/1000/bus"])
        let again = try #require(CgroupV2(recorded: cgroup.recorded))
        #expect(again.scope?.unit == "skiff-c.scope" && again.scope?.bus == "unix:path=/run/user/1000/bus")
        #expect(CgroupV2(recorded: ["unified": "/x"])?.scope == nil)
        // Never read as v1 controllers (an exec would write "systemdBus/cgroup.procs").
        #expect(CgroupV1(recorded: cgroup.recorded) == nil)
    }
}
