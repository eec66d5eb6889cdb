import Platform
import Testing

@testable import OCI

/// config.json: what the writer writes, the reader reads back as the same `Spec`; the reader
/// names the field in every complaint.
struct SpecTests {
    struct RoundTrip: Sendable, CustomTestStringConvertible {
        var name: String
        var spec: Spec
        var testDescription: String { name }
    }

    static let process = Spec.Process(user: Spec.User(uid: 0, gid: 0), args: ["sh"], cwd: "/")

    static let roundTrips: [RoundTrip] = [
        RoundTrip(name: "the least a runtime accepts", spec: Spec()),
        RoundTrip(name: "a process only", spec: Spec(process: process)),
        RoundTrip(name: "every field", spec: Spec(
            process: Spec.Process(
                terminal: true, user: Spec.User(uid: 1000, gid: 1001, umask: 0o022, additionalGids: [10, 4_294_967_295]),
                args: ["/bin/sh", "-c", "echo \"é\\t\""], env: ["PATH=/bin", "EMPTY="], cwd: "/work",
                capabilities: Spec.Capabilities(bounding: ["CAP_KILL", "CAP_CHOWN"], effective: ["CAP_KILL"],
                                                inheritable: [], permitted: ["CAP_KILL"], ambient: ["CAP_KILL"]),
                rlimits: [Spec.Rlimit(type: "RLIMIT_NOFILE", hard: .max, soft: 1024)],
                noNewPrivileges: true, oomScoreAdj: -500, selinuxLabel: "system_u:system_r:container_t:s0",
                apparmorProfile: "docker-default"),
            root: Spec.Root(path: "rootfs", readonly: true),
            hostname: "h", domainname: "example.org",
            mounts: [Spec.Mount(destination: "/", type: "overlay", source: "overlay", options: ["lowerdir=/a:/b"]),
                     Spec.Mount(destination: "/data"), Spec.Mount(destination: "/x", type: "bind", source: "/y", options: [])],
            linux: Spec.Linux(
                namespaces: [Spec.Namespace(type: "pid"), Spec.Namespace(type: "user", path: "/proc/1/ns/user")],
                uidMappings: [Spec.Mapping(containerID: 0, hostID: 1000, size: 1), Spec.Mapping(containerID: 1, hostID: 100_000, size: 65536)],
                gidMappings: [Spec.Mapping(containerID: 0, hostID: 1000, size: 1)],
                maskedPaths: ["/proc/kcore"], readonlyPaths: [], rootfsPropagation: "rslave", mountLabel: "m",
                sysctl: ["net.ipv4.ip_forward": "1", "kernel.shmmax": "1"],
                seccomp: Spec.Seccomp(
                    defaultAction: .errno, defaultErrnoRet: 38, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                    flags: ["SECCOMP_FILTER_FLAG_LOG"],
                    syscalls: [Spec.Seccomp.Syscall(names: ["read", "write"], action: .allow),
                               Spec.Seccomp.Syscall(names: ["personality"], action: .errno, errnoRet: 1,
                                                    args: [SeccompProfile.Argument(index: 0, value: .max, valueTwo: 3, op: .maskedEqual),
                                                           SeccompProfile.Argument(index: 5, value: 8, op: .notEqual)])]),
                resources: Spec.Resources(pidsLimit: 20, memoryLimit: -1, memoryReservation: 1 << 20, memorySwap: -1,
                                          cpuShares: 512, cpuQuota: -1, cpuPeriod: 100_000, cpusetCpus: "0-1",
                                          cpusetMems: "0", blkioWeight: 500),
                cgroupsPath: "/skiff/x"),
            annotations: ["b": "2", "a": "1", "run.skiff.create-cwd": "true"])),
        RoundTrip(name: "a seccomp filter with nothing but its default", spec: Spec(
            process: process, linux: Spec.Linux(seccomp: Spec.Seccomp(defaultAction: .allow)))),
    ]

    @Test(arguments: roundTrips)
    func whatIsWrittenReadsBackTheSame(_ c: RoundTrip) throws {
        let bytes = c.spec.bytes
        #expect(bytes.last == 0x0A)
        #expect(try Spec.decode(bytes, source: "config.json") == c.spec)
        // The same spec is the same bytes (maps are written in key order).
        #expect(try Spec.decode(bytes, source: "config.json").bytes == bytes)
    }

    @Test func mapsAreWrittenInKeyOrderAndEmptyResourcesLeftOut() {
        let spec = Spec(linux: Spec.Linux(sysctl: ["b": "2", "a": "1"], resources: Spec.Resources()),
                        annotations: ["z": "", "m": "x"])
        #expect(spec.json.text == #"{"ociVersion":"1.1.0","linux":{"sysctl":{"a":"1","b":"2"}},"annotations":{"m":"x","z":""}}"#)
    }

    @Test func aProcessOnItsOwn() throws {
        let process = try Spec.decodeProcess(Array(Self.process.json.bytes), source: "process.json")
        #expect(process == Self.process)
    }

    static let invalid: [(json: String, message: String)] = [
        ("", "config.json: not valid JSON: line 1, column 1: the file is empty"),
        ("[]", "config.json: (top level): expected an object, found an array"),
        ("{}", "config.json: missing ociVersion"),
        (#"{"ociVersion":"1.1.0","process":{"cwd":"/"}}"#, "config.json: missing process.user"),
        (#"{"ociVersion":"1.1.0","process":{"user":{"uid":"0","gid":0},"cwd":"/"}}"#,
         "config.json: process.user.uid: expected a number, found a string"),
        (#"{"ociVersion":"1.1.0","process":{"user":{"uid":-1,"gid":0},"cwd":"/"}}"#,
         "config.json: process.user.uid: expected a number from 0 to 4294967295"),
        (#"{"ociVersion":"1.1.0","mounts":[{"type":"bind"}]}"#, "config.json: missing mounts[0].destination"),
        (#"{"ociVersion":"1.1.0","linux":{"resources":{"cpu":{"shares":-1}}}}"#,
         "config.json: linux.resources.cpu.shares: expected a number from 0 to 18446744073709551615, found a negative number"),
        (#"{"ociVersion":"1.1.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_NOPE"}}}"#,
         #"seccomp profile config.json linux.seccomp: defaultAction: unknown action "SCMP_ACT_NOPE""#),
        (#"{"ociVersion":"1.1.0","annotations":{"a":1}}"#, "config.json: annotations.a: expected a string, found a number"),
    ]

    @Test(arguments: invalid)
    func theReaderNamesTheField(_ json: String, _ message: String) {
        let error = #expect(throws: OCIError.self) { try Spec.decode(Array(json.utf8), source: "config.json") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == message)
    }

    @Test func aMissingBundleIsNotFound() {
        let error = #expect(throws: OCIError.self) { try Spec.load(bundle: "/nonexistent/bundle") }
        #expect(error?.code == .notFound)
        #expect(error?.message == "bundle /nonexistent/bundle: cannot read config.json: No such file or directory")
    }

    /// Conditions are not OCI fields: a runtime reads the rule without them, as runc and crun do.
    @Test func seccompConditionsInAConfigAreIgnored() throws {
        let json = #"{"ociVersion":"1.1.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","includes":{"caps":["CAP_SYS_ADMIN"]}}]}}}"#
        let spec = try Spec.decode(Array(json.utf8), source: "config.json")
        #expect(spec.linux?.seccomp?.syscalls == [Spec.Seccomp.Syscall(names: ["mkdir"], action: .errno)])
    }
}
