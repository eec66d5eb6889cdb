import CLinux
import Glibc
import Config
import Images
import OCI
import Platform
import Store
import Testing
@testable import APIServer

/// Decoding and validation of `POST /containers/create`, with moby's messages.
struct ContainerCreateDecodingTests {
    static func decode(_ text: String) throws -> CreateRequest {
        try CreateRequest.decode(Array(text.utf8))
    }

    static func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            let error = APIError.from(error)
            return "\(error.status.code) \(error.message)"
        }
    }

    @Test(arguments: [
        (#"{"Image":"busybox","Tty":"yes"}"#, "400 invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.Tty of type bool"),
        (#"{"Image":"busybox","HostConfig":{"Privileged":1}}"#,
         "400 invalid JSON: json: cannot unmarshal number 1 into Go struct field CreateRequest.HostConfig.Privileged of type bool"),
        (#"{"Image":"busybox","Env":"A=1"}"#, "400 invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.Env of type []string"),
        (#"{"Image":"busybox","HostConfig":{"Memory":"1g"}}"#,
         "400 invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.HostConfig.Memory of type int64"),
        (#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":3}}}"#,
         "400 invalid JSON: json: cannot unmarshal number 3 into Go struct field CreateRequest.HostConfig.RestartPolicy.Name of type string"),
        (#"["busybox"]"#, "400 invalid JSON: json: cannot unmarshal array into Go value of type container.CreateRequest"),
        ("", "400 invalid JSON: got EOF while reading request body"),
        ("null", "400 config cannot be empty in order to create a container"),
    ])
    func wrongTypesAreGoErrors(_ body: String, _ expected: String) {
        #expect(Self.message { _ = try Self.decode(body) } == expected)
    }

    @Test func malformedJSONIsA400() {
        let text = Self.message { _ = try Self.decode(#"{"Image": "busybox","#) }
        #expect(text?.hasPrefix("400 invalid JSON: line 1") == true)
    }

    @Test func unknownFieldsAreIgnoredAndNamesMatchInAnyCase() throws {
        let request = try Self.decode(#"{"image":"busybox","NoSuchField":{"x":1},"cmd":"echo hi","HOSTCONFIG":{"capadd":["NET_ADMIN"],"Binds":null}}"#)
        #expect(request.config.image == "busybox")
        #expect(request.config.cmd == ["echo hi"])   // a StrSlice may be one string
        #expect(request.hostConfig.capAdd == ["NET_ADMIN"])
        #expect(request.hostConfig.binds == [])
    }

    @Test func mountsAndUlimitsDecode() throws {
        let request = try Self.decode("""
            {"Image":"b","HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}],
             "Ulimits":[{"Name":"nofile","Soft":10,"Hard":20}],"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}}
            """)
        #expect(request.hostConfig.mounts.first?.tmpfsOptions == CreateRequest.TmpfsOptions(sizeBytes: 1 << 20, mode: 0o700, options: []))
        #expect(request.hostConfig.ulimits == [CreateRequest.Ulimit(name: "nofile", soft: 10, hard: 20)])
        #expect(request.hostConfig.restartPolicy == CreateRequest.RestartPolicy(name: "on-failure", maximumRetryCount: 3))
    }

    @Test(arguments: [("ok-name", "ok-name"), ("/slash.ok", "slash.ok"), ("a1", "a1")])
    func validNames(_ name: String, _ stored: String) throws {
        #expect(try ContainerValidation.checkName(name) == stored)
    }

    @Test(arguments: ["a", "-x", "bad name", "x/y", "_x", "ünï"])
    func invalidNames(_ name: String) {
        #expect(Self.message { _ = try ContainerValidation.checkName(name) }
                == "400 Invalid container name (\(name)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    }

    @Test func restartPolicies() {
        func check(_ name: String, _ count: Int = 0, autoRemove: Bool = false) -> String? {
            Self.message { try ContainerValidation.checkRestartPolicy(.init(name: name, maximumRetryCount: count), autoRemove: autoRemove) }
        }
        #expect(check("no") == nil && check("always") == nil && check("unless-stopped") == nil && check("on-failure", 5) == nil)
        #expect(check("always", autoRemove: true) == "400 can't create 'AutoRemove' container with restart policy")
        #expect(check("no", autoRemove: true) == nil)
        #expect(check("always", 2) == "400 invalid restart policy: maximum retry count can only be used with 'on-failure'")
        #expect(check("on-failure", -1) == "400 invalid restart policy: maximum retry count cannot be negative")
        #expect(check("maybe") == "400 invalid restart policy: unknown policy 'maybe'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
    }

    @Test func securityOptions() throws {
        let parsed = try ContainerValidation.securityOptions(["no-new-privileges", "seccomp=unconfined", "label=disable"])
        #expect(parsed.noNewPrivileges && parsed.seccomp == "unconfined" && parsed.labels == ["disable"])
        #expect(try ContainerValidation.securityOptions(["no-new-privileges:false"]).noNewPrivileges == false)
        #expect(Self.message { _ = try ContainerValidation.securityOptions(["bogus"]) } == "400 invalid --security-opt 1: \"bogus\"")
        #expect(Self.message { _ = try ContainerValidation.securityOptions(["foo=bar"]) } == "400 invalid --security-opt 2: \"foo=bar\"")
        #expect(Self.message { _ = try ContainerValidation.securityOptions(["no-new-privileges=maybe"]) }
                == "400 invalid --security-opt 2: \"no-new-privileges=maybe\"")
    }

    @Test(arguments: [("SIGTERM", Int32(15)), ("term", 15), ("9", 9), ("SIGRTMIN+3", 37), ("USR1", 10)])
    func signals(_ text: String, _ number: Int32) throws {
        #expect(try ContainerValidation.parseSignal(text) == number)
    }

    @Test func badSignalAndEnvAndWorkdir() {
        #expect(Self.message { _ = try ContainerValidation.parseSignal("SIGNOPE") } == "400 Invalid signal: SIGNOPE")
        #expect(Self.message { try ContainerValidation.checkEnv(["=x"]) } == "400 invalid environment variable: =x")
        #expect(Self.message { _ = try ContainerValidation.workingDir("rel") }
                == "400 the working directory 'rel' is invalid, it needs to be an absolute path")
        #expect(try! ContainerValidation.workingDir("/a/./b/../c/") == "/a/c")
    }
}

/// Capabilities as moby's TweakCapabilities computes them over containers.conf's defaults.
struct CapabilityTests {
    static let defaults = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
                           "SETPCAP", "SETUID", "SYS_CHROOT"]
    static let supported = Array(ContainerValidation.capabilityNames.prefix(41))

    func caps(add: [String] = [], drop: [String] = [], privileged: Bool = false) throws -> [String] {
        try ContainerValidation.capabilities(defaults: Self.defaults, add: add, drop: drop, privileged: privileged,
                                             supported: Self.supported)
    }

    @Test func defaultsAreNormalized() throws {
        #expect(try caps() == Self.defaults.map { "CAP_" + $0 })
    }

    @Test func addAndDrop() throws {
        let result = try caps(add: ["net_admin", "CAP_SYS_PTRACE"], drop: ["chown", "KILL"])
        #expect(!result.contains("CAP_CHOWN") && !result.contains("CAP_KILL"))
        #expect(result.suffix(2) == ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"])
    }

    @Test func allInAddKeepsEverythingButTheDrops() throws {
        let result = try caps(add: ["ALL"], drop: ["NET_RAW"])
        #expect(result.count == Self.supported.count - 1 && !result.contains("CAP_NET_RAW"))
    }

    @Test func allInDropKeepsOnlyTheAdds() throws {
        #expect(try caps(add: ["kill"], drop: ["all"]) == ["CAP_KILL"])
        #expect(try caps(drop: ["ALL"]) == [])
    }

    @Test func privilegedGetsEverything() throws {
        #expect(try caps(drop: ["ALL"], privileged: true) == Self.supported)
    }

    @Test func unknownAndUnsupportedNames() {
        #expect(ContainerCreateDecodingTests.message { _ = try caps(add: ["FLY"]) } == "400 unknown capability: \"CAP_FLY\"")
        #expect(ContainerCreateDecodingTests.message {
            _ = try ContainerValidation.capabilities(defaults: [], add: ["BPF"], drop: [], privileged: false,
                                                     supported: Array(ContainerValidation.capabilityNames.prefix(38)))
        } == "400 capability not supported by your kernel or not available in the current environment: \"CAP_BPF\"")
    }
}

/// Binds, Mounts and Tmpfs with moby's parse rules and messages.
struct MountPlannerTests {
    static var planner: MountPlanner {
        MountPlanner(volumesRoot: "/s/volumes", randomName: { String(repeating: "a", count: 64) }, exists: { $0 == "/exists" })
    }

    @Test func bindsOfHostPathsAndVolumes() throws {
        let mounts = try Self.planner.plan(binds: ["/host/dir:/data:ro,rshared", "named:/v", "/anon"], mounts: [], tmpfs: [:],
                                           imageVolumes: [])
        #expect(mounts[0] == PlannedMount(kind: .bind, source: "/host/dir", destination: "/data", createSource: true,
                                          readOnly: true, mode: "ro,rshared", propagation: "rshared",
                                          options: ["rbind", "rshared", "ro"]))
        #expect(mounts[1].kind == .volume && mounts[1].source == "/s/volumes/named/_data" && mounts[1].mode == "z" && !mounts[1].anonymous)
        #expect(mounts[2].kind == .volume && mounts[2].anonymous && mounts[2].volumeName.count == 64 && mounts[2].destination == "/anon")
    }

    @Test(arguments: [
        (":/x", "400 invalid volume specification: ':/x'"),
        ("/a:ro", "400 invalid volume specification: '/a:ro'"),
        ("/a:/b:c:d", "400 invalid volume specification: '/a:/b:c:d'"),
        ("/a:/b:bogus", "400 invalid mode: bogus"),
        ("/a:/b:ro,rw", "400 invalid mode: ro,rw"),
        ("/a:rel", "400 invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
        ("/a:/", "400 invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"),
        ("./rel:/x", "400 create ./rel: \"./rel\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"),
    ])
    func badBinds(_ raw: String, _ expected: String) {
        #expect(ContainerCreateDecodingTests.message { _ = try Self.planner.bind(raw) } == expected)
    }

    @Test func mountsEntries() throws {
        var bind = CreateRequest.Mount()
        bind.type = "bind"; bind.source = "/missing"; bind.target = "/x"
        #expect(ContainerCreateDecodingTests.message { _ = try Self.planner.mount(bind) }
                == "400 invalid mount config for type \"bind\": bind source path does not exist: /missing")
        bind.source = "/exists"; bind.readOnly = true
        #expect(try Self.planner.mount(bind).options == ["rbind", "rprivate", "ro"])
        var tmpfs = CreateRequest.Mount()
        tmpfs.type = "tmpfs"; tmpfs.target = "/t"
        tmpfs.tmpfsOptions = CreateRequest.TmpfsOptions(sizeBytes: 64 << 20, mode: 0o1777, options: [["exec"]])
        #expect(try Self.planner.mount(tmpfs).options == ["nosuid", "nodev", "mode=1777", "size=64m", "exec"])
        tmpfs.source = "x"
        #expect(ContainerCreateDecodingTests.message { _ = try Self.planner.mount(tmpfs) }
                == "400 invalid mount config for type \"tmpfs\": field Source must not be specified")
        var unknown = CreateRequest.Mount()
        unknown.type = "weird"; unknown.target = "/w"
        #expect(ContainerCreateDecodingTests.message { _ = try Self.planner.mount(unknown) }
                == "400 invalid mount config for type \"weird\": mount type unknown")
    }

    @Test func duplicatesAndImageVolumes() throws {
        #expect(ContainerCreateDecodingTests.message {
            _ = try Self.planner.plan(binds: ["/a:/d"], mounts: [], tmpfs: ["/d": ""], imageVolumes: [])
        } == "400 Duplicate mount point: /d")
        let mounts = try Self.planner.plan(binds: ["/a:/data"], mounts: [], tmpfs: ["/run": "size=1m,exec"],
                                           imageVolumes: ["/data", "/cache"])
        #expect(mounts.map(\.destination) == ["/data", "/run", "/cache"])
        #expect(mounts[1].options == ["nosuid", "nodev", "size=1m", "exec"] && !mounts[1].shownInInspect)
        #expect(mounts[2].anonymous)
    }
}

/// Users from the image's layers, top first, with whiteouts and opaque directories.
struct ImageUserTests {
    final class Tree {
        let root: String
        init() {
            var template = Array("/tmp/skiff-user-test.XXXXXX".utf8CString)
            root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        }
        deinit { FileSystem.removeTree(root) }
        func write(_ path: String, _ text: String) {
            let full = root + "/" + path
            try! FileSystem.makeDirectories(String(full[..<full.lastIndex(of: "/")!]), mode: 0o755)
            try! FileSystem.writeAtomically(full, Array(text.utf8), mode: 0o644, durable: false)
        }
    }

    @Test func namesAndNumbersResolveAgainstTheTopmostFile() throws {
        let t = Tree()
        t.write("low/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        t.write("top/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n")
        t.write("low/etc/group", "root:x:0:\napp:x:1001:\nwheel:x:10:app,other\nstaff:x:50:\n")
        let layers = [t.root + "/top", t.root + "/low"]
        // The groups are moby's getUser (CVE-2023-25173): the primary gid first, the groups
        // listing the user when no group is given, then GroupAdd.
        #expect(try ImageUser.resolve("app", layers: layers)
                == ImageUser(uid: 1000, gid: 1001, additionalGids: [1001, 10], home: "/home/app"))
        #expect(try ImageUser.resolve("", layers: layers) == ImageUser(uid: 0, gid: 0, additionalGids: [0], home: "/root"))
        #expect(try ImageUser.resolve("app:staff", layers: layers).gid == 50)
        #expect(try ImageUser.resolve("1000:7", layers: layers) == ImageUser(uid: 1000, gid: 7, additionalGids: [7], home: "/home/app"))
        #expect(try ImageUser.resolve("4242", layers: layers) == ImageUser(uid: 4242, gid: 0, additionalGids: [0], home: "/"))
        #expect(try ImageUser.resolve("app", layers: layers, groupAdd: ["staff", "99"]).additionalGids == [1001, 10, 50, 99])
        #expect(ContainerCreateDecodingTests.message { _ = try ImageUser.resolve("ghost", layers: layers) }
                == "400 unable to find user ghost: no matching entries in passwd file")
        #expect(ContainerCreateDecodingTests.message { _ = try ImageUser.resolve("app:nogroup", layers: layers) }
                == "400 unable to find group nogroup: no matching entries in group file")
    }

    /// containerd's table (CVE-2023-25173) as moby applies it: a numeric uid:gid gets just the
    /// gid; a numeric uid alone gets its passwd entry's groups; a name gets its primary gid and
    /// every group listing it; root gets root's; GroupAdd comes last; each gid once.
    @Test(arguments: [
        ("1234:1234", [], [1234]),
        ("1234", [], [0]),
        ("1000", [], [1001, 10]),
        ("1000:1001", [], [1001]),
        ("app", [], [1001, 10]),
        ("app:wheel", [], [10]),
        ("", [], [0, 10]),
        ("root", ["50", "wheel"], [0, 10, 50]),
        ("1234:1234", ["staff"], [1234, 50]),
    ] as [(String, [String], [UInt32])])
    func supplementaryGroupsFollowMoby(spec: String, groupAdd: [String], groups: [UInt32]) throws {
        let t = Tree()
        t.write("l/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n")
        t.write("l/etc/group", "root:x:0:\napp:x:1001:\nwheel:x:10:root,app\nstaff:x:50:\n")
        #expect(try ImageUser.resolve(spec, layers: [t.root + "/l"], groupAdd: groupAdd).additionalGids == groups)
    }

    /// setresuid(-1) leaves the id unchanged: ids past 2147483647 (runc's and Podman's limit)
    /// are refused wherever they come from, with runc's message.
    @Test(arguments: [
        ("4294967295", []), ("1000:4294967295", []), ("2147483648", []), ("-1", []), ("99999999999999999999", []),
        ("huge", []), ("app:hugegroup", []), ("app", ["4294967295"]), ("app", ["hugegroup"]),
    ] as [(String, [String])])
    func idsPastTheLimitAreRefused(spec: String, groupAdd: [String]) throws {
        let t = Tree()
        t.write("l/etc/passwd", "app:x:1000:1000::/:/bin/sh\nhuge:x:4294967295:4294967295::/:/bin/sh\n")
        t.write("l/etc/group", "app:x:1000:\nhugegroup:x:4294967295:\n")
        #expect(ContainerCreateDecodingTests.message { _ = try ImageUser.resolve(spec, layers: [t.root + "/l"], groupAdd: groupAdd) }
                == "400 uids and gids must be in range 0-2147483647")
        #expect(try ImageUser.resolve("2147483647:2147483647", layers: [t.root + "/l"]).additionalGids == [2_147_483_647])
    }

    @Test func anOpaqueDirectoryHidesLowerLayers() throws {
        let t = Tree()
        t.write("low/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nold:x:5:5::/:/bin/sh\n")
        t.write("top/etc/hostname", "x\n")
        let opaque = t.root + "/top/etc"
        guard setxattr(opaque, "user.overlay.opaque", "y", 1, 0) == 0 else { return }   // file system without user xattrs
        #expect(ImageUser.readLayered("etc/passwd", layers: [t.root + "/top", t.root + "/low"]) == nil)
        #expect(ContainerCreateDecodingTests.message { _ = try ImageUser.resolve("old", layers: [t.root + "/top", t.root + "/low"]) }
                == "400 unable to find user old: no matching entries in passwd file")
    }

    @Test(.enabled(if: getuid() == 0, "a whiteout is a 0/0 character device: mknod needs root"))
    func aWhiteoutHidesTheFile() throws {
        let t = Tree()
        t.write("low/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        try FileSystem.makeDirectories(t.root + "/top/etc", mode: 0o755)
        #expect(mknod(t.root + "/top/etc/passwd", S_IFCHR | 0o600, 0) == 0)
        #expect(ImageUser.readLayered("etc/passwd", layers: [t.root + "/top", t.root + "/low"]) == nil)
        #expect(ImageUser.readLayered("etc/passwd", layers: [t.root + "/low"]) != nil)
    }
}

/// The OCI spec a create writes, checked on its JSON (the OCI writer's output).
struct ContainerSpecTests {
    static func input(network: String = "bridge", rootless: Bool = true, privileged: Bool = false,
                      seccomp: Spec.Seccomp? = Spec.Seccomp(defaultAction: .errno)) -> ContainerSpecInput {
        ContainerSpecInput(args: ["sh"], env: ["PATH=/bin"], cwd: "/", user: ImageUser(uid: 1, gid: 2, additionalGids: [3], home: "/"),
                           capabilities: ["CAP_KILL"], hostname: "h", lowerDirs: ["/l/top", "/l/low"], containerDir: "/c/id",
                           networkMode: network, userNamespace: rootless, privileged: privileged, seccomp: seccomp)
    }

    static func namespaces(_ spec: JSON) -> [String] {
        guard case .array(let list)? = spec["linux"]?["namespaces"] else { return [] }
        return list.compactMap { if case .string(let s)? = $0["type"] { return s }; return nil }
    }

    static func mount(_ spec: JSON, _ destination: String) -> JSON? {
        guard case .array(let list)? = spec["mounts"] else { return nil }
        return list.first { $0["destination"] == .string(destination) }
    }

    @Test func namespacesFollowTheNetworkModeAndRootlessness() {
        #expect(Self.namespaces(ContainerSpec.build(Self.input()).json) == ["pid", "ipc", "uts", "mount", "network", "cgroup", "user"])
        #expect(Self.namespaces(ContainerSpec.build(Self.input(network: "none", rootless: false)).json)
                == ["pid", "ipc", "uts", "mount", "network", "cgroup"])
        let host = ContainerSpec.build(Self.input(network: "host")).json
        #expect(!Self.namespaces(host).contains("network"))
        // Rootless with the host's network: sysfs cannot be mounted, the host's /sys is bound.
        #expect(Self.mount(host, "/sys")?["type"] == "bind")
        #expect(Self.mount(ContainerSpec.build(Self.input()).json, "/sys")?["type"] == "sysfs")
    }

    @Test func processAndRoot() {
        let spec = ContainerSpec.build(Self.input()).json
        #expect(spec["process"]?["user"] == ["uid": 1, "gid": 2, "umask": 18, "additionalGids": [3]])
        #expect(spec["process"]?["capabilities"]?["bounding"] == ["CAP_KILL"])
        #expect(Self.mount(spec, "/")?["options"] == ["lowerdir=/l/top:/l/low", "upperdir=/c/id/upper", "workdir=/c/id/work"])
        #expect(Self.mount(spec, "/etc/hosts")?["source"] == "/c/id/hosts")
        #expect(spec["linux"]?["maskedPaths"] == JSON(ContainerSpec.maskedPaths))
        #expect(spec["linux"]?["seccomp"]?["defaultAction"] == "SCMP_ACT_ERRNO")
    }

    @Test func unconfinedAndPrivileged() {
        let unconfined = ContainerSpec.build(Self.input(seccomp: nil)).json
        #expect(unconfined["linux"]?["seccomp"] == nil)
        let privileged = ContainerSpec.build(Self.input(privileged: true, seccomp: nil)).json
        #expect(privileged["linux"]?["maskedPaths"] == nil && privileged["linux"]?["readonlyPaths"] == nil)
        #expect(Self.mount(privileged, "/sys")?["options"] == ["nosuid", "noexec", "nodev", "rw"])
    }

    @Test func imageDefaultsMergeAsMobyDoes() {
        var config = CreateRequest.ContainerConfig()
        config.env = ["A=1", "PATH=/mine"]
        config.labels = ["x": "mine"]
        let image = ImageConfig.Container(user: "app", env: ["PATH=/bin", "B=2"], entrypoint: ["/entry"], cmd: ["run"],
                                          workingDir: "/w", labels: ["x": "image", "y": "image"], exposedPorts: ["80/tcp"],
                                          volumes: ["/data"], stopSignal: "SIGQUIT")
        ContainerPlanner.merge(&config, image: image)
        #expect(config.env == ["A=1", "PATH=/mine", "B=2"])
        #expect(config.labels == ["x": "mine", "y": "image"])
        #expect(config.entrypoint == ["/entry"] && config.cmd == ["run"])
        #expect(config.user == "app" && config.workingDir == "/w" && config.stopSignal == "SIGQUIT")
        #expect(config.volumes == ["/data"] && config.exposedPorts == ["80/tcp"])
        // An entrypoint given by the request drops the image's Cmd.
        var own = CreateRequest.ContainerConfig()
        own.entrypoint = ["/mine"]
        ContainerPlanner.merge(&own, image: image)
        #expect(own.entrypoint == ["/mine"] && own.cmd == nil)
        var env = ["PATH=/usr/bin", "TERM=xterm"]
        ContainerPlanner.setEnv(&env, "TERM=dumb")
        ContainerPlanner.setEnv(&env, "X=")
        #expect(env == ["PATH=/usr/bin", "TERM=dumb", "X="])
    }
}

/// Status text and list selection, pure functions of rows and the time.
struct ContainerViewTests {
    static let second: Int64 = 1_000_000_000
    static let now: Int64 = 1_700_000_000 * second

    static func record(_ id: Character, _ state: ContainerRecord.State, name: String = "c", exitCode: Int32 = 0,
                       startedAt: String = "", finishedAt: String = "", labels: [String: String] = [:],
                       image: String = "sha256:i") -> ContainerRecord {
        let stored: JSON = ["Path": "sh", "Args": ["-c", "x"], "Config": ["Labels": .object(labels.map { JSON.Member($0.key, .string($0.value)) }), "Image": "busybox"],
                            "HostConfig": ["NetworkMode": "bridge"], "Mounts": []]
        var r = ContainerRecord(id: String(repeating: id, count: 64), name: name, imageID: image, imageName: "busybox",
                                created: now - 100 * second, state: state, config: stored.bytes)
        r.exitCode = exitCode
        r.startedAt = startedAt
        r.finishedAt = finishedAt
        return r
    }

    static let durations: [(Int64, String)] = [
        (0, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"), (119, "About a minute"),
        (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"), (7200, "2 hours"), (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"), (14 * 86400, "2 weeks"), (60 * 86400, "2 months"), (800 * 86400, "2 years"),
    ]

    @Test(arguments: durations)
    func humanDurations(_ seconds: Int64, _ text: String) {
        #expect(ContainerView.humanDuration(seconds * Self.second) == text)
    }

    @Test func statusText() {
        let started = "2023-11-14T22:13:17.5Z"   // 3 seconds before `now` (1700000000 = 22:13:20Z)
        #expect(ContainerView.status(Self.record("a", .created), now: Self.now) == "Created")
        #expect(ContainerView.status(Self.record("a", .running, startedAt: started), now: Self.now) == "Up 2 seconds")
        #expect(ContainerView.status(Self.record("a", .paused, startedAt: started), now: Self.now) == "Up 2 seconds (Paused)")
        #expect(ContainerView.status(Self.record("a", .exited, exitCode: 3, startedAt: started, finishedAt: "2023-11-14T22:13:15Z"),
                                     now: Self.now) == "Exited (3) 5 seconds ago")
        #expect(ContainerView.status(Self.record("a", .restarting, exitCode: 1, startedAt: started, finishedAt: "2023-11-14T22:12:20Z"),
                                     now: Self.now) == "Restarting (1) About a minute ago")
        #expect(ContainerView.status(Self.record("a", .dead), now: Self.now) == "Dead")
        #expect(ContainerView.status(Self.record("a", .removing), now: Self.now) == "Removal In Progress")
    }

    @Test func stateObjectAndInspect() throws {
        let r = Self.record("a", .exited, exitCode: 2, startedAt: "2023-11-14T22:13:17.5Z", finishedAt: "2023-11-14T22:13:18Z")
        let state = ContainerView.state(r)
        #expect(state["Running"] == false && state["ExitCode"] == 2 && state["Status"] == "exited")
        #expect(ContainerView.state(Self.record("b", .created))["StartedAt"] == "0001-01-01T00:00:00Z")
        let inspect = try ContainerView.inspect(r)
        #expect(inspect["Name"] == "/c" && inspect["Path"] == "sh" && inspect["Args"] == ["-c", "x"])
        #expect(inspect["Created"] == "2023-11-14T22:11:40Z")
        let summary = try ContainerView.summary(r, image: "busybox", now: Self.now)
        #expect(summary["Command"] == "sh -c x" && summary["Created"] == 1_699_999_900 && summary["Names"] == ["/c"])
    }

    @Test func listSelection() throws {
        let records = [Self.record("c", .running, name: "web", labels: ["tier": "front"], image: "sha256:web"),
                       Self.record("b", .exited, name: "job", exitCode: 3, startedAt: "2023-11-14T22:13:17Z",
                                   finishedAt: "2023-11-14T22:13:18Z", labels: ["tier": "back"]),
                       Self.record("a", .created, name: "fresh")]
        func select(_ filters: String, all: Bool = false, limit: Int = 0, ancestors: Set<String>? = nil) throws -> [String] {
            let query = try ContainerListQuery(filters: Filters(filters, allowed: ContainerSpecHandlers.listFilters), all: all,
                                               limit: limit, ancestors: ancestors, records: records)
            return query.select(records).map(\.name)
        }
        #expect(try select("") == ["web"])
        #expect(try select("", all: true) == ["web", "job", "fresh"])
        #expect(try select("", limit: 2) == ["web", "job"])
        #expect(try select(#"{"status":["exited","created"]}"#) == ["job", "fresh"])
        #expect(try select(#"{"exited":["3"]}"#, all: true) == ["job"])
        #expect(try select(#"{"label":["tier=back"]}"#, all: true) == ["job"])
        #expect(try select(#"{"label":["tier"]}"#, all: true) == ["web", "job"])
        #expect(try select(#"{"name":["^/?f"]}"#, all: true) == ["fresh"])
        #expect(try select(#"{"id":["bbbb"]}"#, all: true) == ["job"])
        #expect(try select(#"{"before":["job"]}"#, all: true) == ["fresh"])
        #expect(try select(#"{"since":["fresh"]}"#, all: true) == ["web", "job"])
        #expect(try select("", all: true, ancestors: ["sha256:web"]) == ["web"])
        #expect(ContainerCreateDecodingTests.message { _ = try select(#"{"status":["zzz"]}"#) }
                == "400 invalid filter 'status=zzz'")
        #expect(ContainerCreateDecodingTests.message { _ = try select(#"{"exited":["x"]}"#) }
                == "400 invalid filter 'exited=x': strconv.Atoi: parsing \"x\": invalid syntax")
        #expect(ContainerCreateDecodingTests.message { _ = try select(#"{"before":["nope"]}"#) } == "404 No such container: nope")
        #expect(ContainerCreateDecodingTests.message { _ = try select(#"{"color":["red"]}"#) } == "400 invalid filter 'color'")
    }

    @Test func storedAccessors() throws {
        let stored = StoredContainer(json: ["Config": ["Tty": true, "OpenStdin": true, "StdinOnce": false, "StopTimeout": 3],
                                            "HostConfig": ["AutoRemove": true, "RestartPolicy": ["Name": "on-failure", "MaximumRetryCount": 2]]])
        #expect(stored.tty && stored.openStdin && !stored.stdinOnce && stored.autoRemove)
        #expect(stored.restartArgument == "on-failure:2" && stored.stopTimeout == 3 && stored.stopSignal == "SIGTERM")
        #expect(stored.stopSignalNumber == 15)
        #expect(StoredContainer(json: [:]).restartArgument == "no" && StoredContainer(json: [:]).stopTimeout == 10)
    }
}

/// The engine operation over a real Store in a temporary directory: what a create writes, and
/// that a failure part-way leaves nothing (row, volume, directories).
struct ContainerCommitTests {
    final class Setup {
        let dir: String
        let engine: Engine

        init() throws {
            var template = Array("/tmp/skiff-create-test.XXXXXX".utf8CString)
            dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
            let storageConf = dir + "/storage.conf"
            try FileSystem.writeAtomically(storageConf, Array("[storage]\ngraphroot = \"\(dir)/graph\"\n".utf8), durable: false)
            var environment = ConfigEnvironment.current()
            environment.variables = ["CONTAINERS_STORAGE_CONF": storageConf, "XDG_RUNTIME_DIR": dir]
            environment.systemDirectories = [dir + "/nonexistent"]
            engine = Engine(config: try ConfigLoader(environment: environment).load())
            let config: JSON = ["architecture": "amd64", "os": "linux", "config": ["Cmd": ["sh"], "Env": ["PATH=/bin"]],
                                "rootfs": ["type": "layers", "diff_ids": []]]
            _ = try engine.withStore { store in
                try store.addImage(id: "sha256:" + String(repeating: "1", count: 64), config: config.bytes, size: 10,
                                   created: 0, layers: [], names: ["docker.io/library/tiny:latest"])
            }
        }

        deinit { FileSystem.removeTree(dir) }

        var root: String { engine.config.skiffRoot }

        func request(_ text: String) throws -> CreateRequest { try CreateRequest.decode(Array(text.utf8)) }
    }

    @Test func aCreateWritesTheRowTheBundleTheVolumeAndTheEvent() throws {
        let s = try Setup()
        let body = #"{"Image":"tiny","HostConfig":{"SecurityOpt":["seccomp=unconfined"],"Binds":["vol1:/v","\#(s.dir)/made/here:/m"]}}"#
        let (id, warnings) = try s.engine.createContainer(try s.request(body), name: "first")
        #expect(warnings.isEmpty)
        let record = try s.engine.withStore { try $0.resolveContainer("first") }
        #expect(record.id == id && record.state == .created && record.imageName == "tiny")
        let stored = try StoredContainer(record)
        #expect(stored.path == "sh" && stored.restartArgument == "no" && stored.networkMode == "bridge")
        #expect(stored.volumes.map(\.name) == ["vol1"])
        for file in ["config.json", "hostname", "hosts", "resolv.conf", "rootfs", "upper", "work", "empty"] {
            #expect(access(s.root + "/containers/" + id + "/" + file, F_OK) == 0, "\(file)")
        }
        #expect(access(s.root + "/volumes/vol1/_data", F_OK) == 0)
        #expect(access(s.dir + "/made/here", F_OK) == 0)
        let events = try s.engine.withStore { try $0.events() }
        #expect(events.last?.action == "create" && events.last?.actorID == id)
        #expect(events.last?.attributes.first { $0.0 == "name" }?.1 == "first")
        // The name is taken now.
        #expect(ContainerCreateDecodingTests.message { _ = try s.engine.createContainer(try s.request(body), name: "first") }?
                    .hasPrefix("409 Conflict. The container name \"/first\" is already in use") == true)
    }

    /// A made-up name another create took between the planning and the row (parallel creates
    /// without names) is made up again; a name the client asked for is a conflict.
    @Test func aMadeUpNameTakenMeanwhileIsMadeUpAgain() throws {
        let s = try Setup()
        let body = #"{"Image":"tiny","HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#
        var plan = try ContainerPlanner(engine: s.engine).plan(try s.request(body), name: nil)
        let taken = plan.name
        _ = try s.engine.createContainer(try s.request(body), name: taken)
        try s.engine.commit(&plan, nameIsMadeUp: true)
        #expect(plan.name != taken)
        #expect(try s.engine.withStore { try $0.resolveContainer(plan.name) }.id == plan.id)

        var asked = try ContainerPlanner(engine: s.engine).plan(try s.request(body), name: nil)
        asked.name = taken
        #expect(ContainerCreateDecodingTests.message { try s.engine.commit(&asked) }?
                    .hasPrefix("409 Conflict. The container name \"/\(taken)\" is already in use") == true)
    }

    @Test func aFailurePartWayRemovesWhatWasMade() throws {
        let s = try Setup()
        // `containers` is a file: making the container's directory fails after the row and the volume.
        try FileSystem.makeDirectories(s.root, mode: 0o700)
        try FileSystem.writeAtomically(s.root + "/containers", [], durable: false)
        let body = #"{"Image":"tiny","HostConfig":{"SecurityOpt":["seccomp=unconfined"],"Binds":["vol2:/v","\#(s.dir)/new/dir:/m"]}}"#
        let error = ContainerCreateDecodingTests.message { _ = try s.engine.createContainer(try s.request(body), name: "doomed") }
        #expect(error?.hasPrefix("500 ") == true)
        #expect(try s.engine.withStore { try $0.containers() }.isEmpty)
        #expect(try s.engine.withStore { try $0.volume(name: "vol2") } == nil)
        #expect(access(s.root + "/volumes/vol2", F_OK) != 0)
        #expect(access(s.dir + "/new", F_OK) != 0)
        #expect(try s.engine.withStore { try $0.events() }.isEmpty)
    }
}
