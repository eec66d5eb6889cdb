import CRelay
import MonitorProtocol
import Testing

/// Explained denials: what the service writes (denials.json), the relay's table and records, and
/// the relay's run of the original program (CRelay's notify.c).
@Suite struct DenialReasonsTests {
    static let reasons = DenialReasons(
        container: "web", hint: false,
        fallback: .init(kind: .defaultAction, setting: "seccomp profile", origin: "p.json defaultAction", text: "default\ttext"),
        syscalls: ["chroot": .init(kind: .capability, capability: "CAP_SYS_CHROOT", setting: "default_capabilities",
                                   origin: "/c.conf:3", text: "lacks CAP_SYS_CHROOT")])

    @Test func roundTrips() {
        #expect(DenialReasons(bytes: Self.reasons.bytes) == Self.reasons)
        #expect(DenialReasons(bytes: Array("{}".utf8)) == nil)
        #expect(Self.reasons.reason(for: "mount").kind == .defaultAction)
        #expect(Self.reasons.reason(for: "chroot").capability == "CAP_SYS_CHROOT")
    }

    @Test func relayTableHasEveryNameAndTheDefault() {
        let table = Self.reasons.relayTable(names: [161: "chroot", 165: "mount"])
        #expect(table == "hint 0\ncontainer web\n161\tchroot\tlacks CAP_SYS_CHROOT\n165\tmount\t\n*\t\tdefault text\n")
    }

    @Test func recordsParseAndCountDropped() {
        let text = "2026-01-02T03:04:05Z\tc000003e\t161\t1\t7\nnot a record\n#dropped\t12\n2026-01-02T03:04:06Z\tc000003e\t165\t38\t8\n"
        let parsed = DenialRecord.parse(Substring(text))
        #expect(parsed.dropped == 12)
        #expect(parsed.records == [
            DenialRecord(time: "2026-01-02T03:04:05Z", architecture: 0xc000_003e, number: 161, errno: 1, pid: 7),
            DenialRecord(time: "2026-01-02T03:04:06Z", architecture: 0xc000_003e, number: 165, errno: 38, pid: 8),
        ])
    }

    @Test func execRecordsCarryTheExecAndWhetherItIsPrivileged() {
        let text = "t1\tc000003e\t161\t1\t7\t0123456789ab\t1\nt2\tc000003e\t161\t1\t8\n"
            + "t3\tc000003e\t161\t1\t9\t\t0\nt4\tc000003e\t161\t1\t9\tab\t2\n"
        let records = DenialRecord.parse(Substring(text)).records
        #expect(records.count == 2)
        #expect(records[0].execID == "0123456789ab" && records[0].privileged)
        #expect(records[1].execID == nil && !records[1].privileged)
        #expect(records[0].belongs(toExec: "0123456789ab" + String(repeating: "f", count: 52)))
        #expect(!records[0].belongs(toExec: "0123456789ac" + String(repeating: "f", count: 52)))
        #expect(!records[1].belongs(toExec: "0123456789ab"))
        let privileged = Self.reasons.reason(for: "chroot").forPrivilegedExec()
        #expect(privileged.text == "lacks CAP_SYS_CHROOT (the exec is privileged and has CAP_SYS_CHROOT, but it runs "
                + "under the container's seccomp filter, made for the container's capabilities)")
        #expect(privileged.setting == "default_capabilities")
    }

    @Test(arguments: [
        ("notify 0123456789abcdef 1", "0123456789ab", 1), ("notify ab 0\r", "ab", 0),
        ("notify 0123456789abcdef", nil, 0), ("notify ABCDEF 0", nil, 0), ("notify  ab 0", nil, 0),
        ("notify ab 2", nil, 0), ("notify ab 0 x", nil, 0), ("resize 24 80", nil, 0), ("notify", nil, 0),
        ("notify " + String(repeating: "a", count: 65) + " 0", nil, 0),
    ] as [(String, String?, Int32)])
    func readsTheNotifyLine(line: String, id: String?, privileged: Int32) {
        var buffer = [CChar](repeating: 0, count: Int(SKIFF_NOTIFY_EXEC_ID_LENGTH) + 1)
        var flag: Int32 = -1
        let bytes = Array(line.utf8)
        let parsed = bytes.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) {
                skiff_parse_notify_line($0.baseAddress, $0.count, &buffer, buffer.count, &flag)
            }
        }
        if let id {
            #expect(parsed == 1 && String(cString: buffer) == id && flag == privileged)
        } else {
            #expect(parsed == 0)
        }
        #expect(Int(SKIFF_NOTIFY_EXEC_ID_LENGTH) == DenialRecord.execIDLength)
    }

    @Test func namesTheSameRunFiles() {
        let paths = ContainerPaths(skiffRoot: "/s", runtimeDirectory: "/r", id: "abc")
        #expect(paths.denialRecords == "/r/containers/abc/" + SKIFF_RUN_DENIALS)
        #expect(paths.denialReasonsTable == "/r/containers/abc/" + SKIFF_RUN_DENIAL_REASONS)
        #expect(paths.seccompProgram == "/r/containers/abc/" + SKIFF_RUN_SECCOMP_PROGRAM)
    }

    /// struct seccomp_data: nr, arch, instruction pointer, six arguments.
    static func data(nr: Int32, arch: UInt32 = 0xc000_003e, arg0: UInt64 = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        func put32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        func put64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        put32(UInt32(bitPattern: nr)); put32(arch); put64(0); put64(arg0)
        for _ in 0..<5 { put64(0) }
        return bytes
    }

    static func instruction(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) -> [UInt8] {
        [UInt8(code & 0xff), UInt8(code >> 8), jt, jf,
         UInt8(k & 0xff), UInt8((k >> 8) & 0xff), UInt8((k >> 16) & 0xff), UInt8(k >> 24)]
    }

    /// A program as libseccomp shapes it: check the architecture, load nr, compare, return; and
    /// an argument test (arg0 & 0x10).
    static let program: [UInt8] =
        instruction(0x20, 0, 0, 4)                       // A = arch
        + instruction(0x15, 1, 0, 0xc000_003e)           // arch == x86_64 ? skip : next
        + instruction(0x06, 0, 0, 0x0000_0000)           // KILL_THREAD
        + instruction(0x20, 0, 0, 0)                     // A = nr
        + instruction(0x15, 0, 1, 161)                   // nr == chroot ?
        + instruction(0x06, 0, 0, 0x0005_0001)           // ERRNO(EPERM)
        + instruction(0x15, 0, 4, 56)                    // nr == clone ?
        + instruction(0x20, 0, 0, 16)                    // A = arg0 (low half)
        + instruction(0x45, 0, 1, 0x10)                  // A & 0x10 ?
        + instruction(0x06, 0, 0, 0x0005_0026)           // ERRNO(ENOSYS)
        + instruction(0x06, 0, 0, 0x7fff_0000)           // ALLOW
        + instruction(0x06, 0, 0, 0x7fff_0000)           // ALLOW

    static func run(_ data: [UInt8]) -> UInt32 {
        program.withUnsafeBufferPointer { p in
            data.withUnsafeBufferPointer { d in notify_run_filter(p.baseAddress, p.count, d.baseAddress) }
        }
    }

    @Test func runsTheOriginalProgramToItsAnswer() {
        #expect(Self.run(Self.data(nr: 161)) == 0x0005_0001)
        #expect(Self.run(Self.data(nr: 56, arg0: 0x10)) == 0x0005_0026)
        #expect(Self.run(Self.data(nr: 56, arg0: 0x01)) == 0x7fff_0000)
        #expect(Self.run(Self.data(nr: 0)) == 0x7fff_0000)
        #expect(Self.run(Self.data(nr: 161, arch: 0x4000_0003)) == 0)
    }

    @Test func aMalformedProgramKills() {
        let bad = Self.instruction(0x20, 0, 0, 200)   // beyond seccomp_data
        let result = bad.withUnsafeBufferPointer { p in
            Self.data(nr: 1).withUnsafeBufferPointer { d in notify_run_filter(p.baseAddress, p.count, d.baseAddress) }
        }
        #expect(result == 0x8000_0000)   // SECCOMP_RET_KILL_PROCESS
    }
}
