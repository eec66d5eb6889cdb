import Testing
@testable import Config

/// The layering of containers.conf and storage.conf, with a fake file system root per test:
/// `usr/` stands for /usr/share/containers, `etc/` for /etc/containers, `home/` for $HOME.
struct ConfigLoaderTests {
    static let defaultCaps = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
                              "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]

    /// The seed article's user file: Podman's capability list with SYS_CHROOT removed (and the
    /// trailing comma after SETUID removed too), amid the comments the copied file carries.
    static let seedUserFile = """
        # The containers configuration file specifies all of the available configuration
        # command-line options/flags for container engine tools like Podman & Buildah,
        # but in a TOML format that can be easily modified and versioned.

        [containers]

        # List of default capabilities for containers. If it is empty or commented out,
        # the default capabilities defined in the container engine will be added.
        #
        default_capabilities = [
          "CHOWN",
          "DAC_OVERRIDE",
          "FOWNER",
          "FSETID",
          "KILL",
          "NET_BIND_SERVICE",
          "SETFCAP",
          "SETGID",
          "SETPCAP",
          "SETUID"
        ]

        [secrets]

        [network]

        [engine]
        #runtime = "crun"

        [engine.runtimes]
        runc = [
          "/usr/lib/cri-o-runc/sbin/runc",
          "/usr/bin/runc",
        ]

        [machine]
        """

    func environment(_ tree: TempTree, uid: UInt32 = 1000, variables: [String: String] = [:]) -> ConfigEnvironment {
        ConfigEnvironment(uid: uid, user: uid == 0 ? "root" : "alice", home: tree.root + "/home",
                          variables: variables,
                          systemDirectories: [tree.root + "/usr", tree.root + "/etc"])
    }

    func load(_ tree: TempTree, uid: UInt32 = 1000, variables: [String: String] = [:]) throws -> EngineConfig {
        try ConfigLoader(environment: environment(tree, uid: uid, variables: variables)).load()
    }

    struct Layering: Sendable, CustomStringConvertible {
        let name: String
        /// relative path -> content
        let files: [(String, String)]
        let uid: UInt32
        let variables: [String: String]
        let key: String
        let value: Value
        /// relative path and line of the winning file; nil for the built-in default
        let origin: (String, Int)?
        var description: String { name }
    }

    static let layering: [Layering] = [
        Layering(name: "no files: Podman's default capabilities", files: [], uid: 1000, variables: [:],
                 key: "containers.default_capabilities", value: .stringArray(defaultCaps), origin: nil),
        Layering(name: "no files: pids_limit", files: [], uid: 1000, variables: [:],
                 key: "containers.pids_limit", value: .integer(2048), origin: nil),
        Layering(name: "/usr/share sets a value", files: [("usr/containers.conf", "[containers]\npids_limit = 100\n")],
                 uid: 1000, variables: [:], key: "containers.pids_limit", value: .integer(100),
                 origin: ("usr/containers.conf", 2)),
        Layering(name: "/etc overrides /usr/share", files: [
            ("usr/containers.conf", "[containers]\npids_limit = 100\n"),
            ("etc/containers.conf", "\n[containers]\npids_limit = 200\n")],
                 uid: 1000, variables: [:], key: "containers.pids_limit", value: .integer(200),
                 origin: ("etc/containers.conf", 3)),
        Layering(name: "/etc drop-ins apply in name order", files: [
            ("etc/containers.conf", "[containers]\npids_limit = 200\n"),
            ("etc/containers.conf.d/20-b.conf", "[containers]\npids_limit = 400\n"),
            ("etc/containers.conf.d/10-a.conf", "[containers]\npids_limit = 300\n"),
            ("etc/containers.conf.d/30-c.conf.disabled", "[containers]\npids_limit = 999\n")],
                 uid: 1000, variables: [:], key: "containers.pids_limit", value: .integer(400),
                 origin: ("etc/containers.conf.d/20-b.conf", 2)),
        Layering(name: "user file overrides the system (seed: no SYS_CHROOT)", files: [
            ("usr/containers.conf", "[containers]\ndefault_capabilities = [\"CHOWN\"]\n"),
            ("home/.config/containers/containers.conf", seedUserFile)],
                 uid: 1000, variables: [:], key: "containers.default_capabilities",
                 value: .stringArray(defaultCaps.filter { $0 != "SYS_CHROOT" }),
                 origin: ("home/.config/containers/containers.conf", 10)),
        Layering(name: "user drop-in beats the user file", files: [
            ("home/.config/containers/containers.conf", "[engine]\nservice_timeout = 7\n"),
            ("home/.config/containers/containers.conf.d/a.conf", "[engine]\nservice_timeout = 9\n")],
                 uid: 1000, variables: [:], key: "engine.service_timeout", value: .integer(9),
                 origin: ("home/.config/containers/containers.conf.d/a.conf", 2)),
        Layering(name: "root ignores the user file", files: [
            ("etc/containers.conf", "[engine]\nservice_timeout = 7\n"),
            ("home/.config/containers/containers.conf", "[engine]\nservice_timeout = 9\n")],
                 uid: 0, variables: [:], key: "engine.service_timeout", value: .integer(7),
                 origin: ("etc/containers.conf", 2)),
        Layering(name: "XDG_CONFIG_HOME moves the user file", files: [
            ("home/.config/containers/containers.conf", "[engine]\nservice_timeout = 9\n"),
            ("xdg/containers/containers.conf", "[engine]\nservice_timeout = 11\n")],
                 uid: 1000, variables: ["XDG_CONFIG_HOME": "@/xdg"], key: "engine.service_timeout",
                 value: .integer(11), origin: ("xdg/containers/containers.conf", 2)),
        Layering(name: "CONTAINERS_CONF replaces every layer", files: [
            ("etc/containers.conf", "[containers]\npids_limit = 200\n"),
            ("home/.config/containers/containers.conf", "[engine]\nservice_timeout = 9\n"),
            ("only.conf", "[containers]\nenv = [\"A=1\"]\n")],
                 uid: 1000, variables: ["CONTAINERS_CONF": "@/only.conf"], key: "engine.service_timeout",
                 value: .integer(5), origin: nil),
        Layering(name: "CONTAINERS_CONF_OVERRIDE is applied last", files: [
            ("home/.config/containers/containers.conf", "[engine]\nservice_timeout = 9\n"),
            ("override.conf", "[engine]\n\nservice_timeout = 13\n")],
                 uid: 1000, variables: ["CONTAINERS_CONF_OVERRIDE": "@/override.conf"],
                 key: "engine.service_timeout", value: .integer(13), origin: ("override.conf", 3)),
        Layering(name: "free-form tables keep each key", files: [
            ("etc/containers.conf", "[engine.runtimes]\nmyrt = [\"/opt/myrt\"]\n")],
                 uid: 1000, variables: [:], key: "engine.runtimes.myrt",
                 value: .stringArray(["/opt/myrt"]), origin: ("etc/containers.conf", 2)),
        Layering(name: "dotted keys at the top level", files: [
            ("etc/containers.conf", "containers.pids_limit = 42\n")],
                 uid: 1000, variables: [:], key: "containers.pids_limit", value: .integer(42),
                 origin: ("etc/containers.conf", 1)),
        Layering(name: "storage.conf: /etc overrides /usr/share", files: [
            ("usr/storage.conf", "[storage]\ndriver = \"overlay\"\n"),
            ("etc/storage.conf", "[storage]\ndriver = \"vfs\"\n")],
                 uid: 1000, variables: [:], key: "storage.driver", value: .string("vfs"),
                 origin: ("etc/storage.conf", 2)),
        Layering(name: "storage.conf: CONTAINERS_STORAGE_CONF replaces the list", files: [
            ("etc/storage.conf", "[storage]\ndriver = \"vfs\"\n"),
            ("s.conf", "[storage]\n[storage.options.overlay]\nmountopt = \"nodev\"\n")],
                 uid: 1000, variables: ["CONTAINERS_STORAGE_CONF": "@/s.conf"], key: "storage.driver",
                 value: .string(""), origin: nil),
    ]

    @Test(arguments: layering)
    func layersOverrideKeyByKey(_ case_: Layering) throws {
        let tree = TempTree()
        for (path, text) in case_.files { tree.write(path, text) }
        let variables = case_.variables.mapValues { $0.replacingOccurrences("@", tree.root) }
        let config = try load(tree, uid: case_.uid, variables: variables)
        let setting = try #require(config[case_.key])
        #expect(setting.value == case_.value)
        if let (path, line) = case_.origin {
            #expect(setting.origin == .file(path: tree.root + "/" + path, line: line))
        } else {
            #expect(setting.origin == .builtin)
        }
    }

    @Test func defaultsHaveElevenCapabilities() throws {
        let tree = TempTree()
        let config = try load(tree)
        #expect(config.defaultCapabilities.count == 11)
        #expect(config.defaultCapabilities == Self.defaultCaps)
        #expect(config.filesRead.isEmpty)
        #expect(config.warnings.isEmpty)
    }

    @Test func malformedFileNamesFileAndLine() throws {
        let tree = TempTree()
        let path = tree.write("home/.config/containers/containers.conf", """
            [containers]
            default_capabilities = [
              "CHOWN",
              "KILL"
              "SETUID",
            ]
            """)
        #expect(throws: ConfigError(.malformed, file: path, line: 5,
                                    "column 3: expected ',' or ']' in the array, found '\"'")) {
            try load(tree)
        }
    }

    @Test func wrongTypeNamesFileLineAndKey() throws {
        let tree = TempTree()
        let path = tree.write("etc/containers.conf", "[containers]\n\npids_limit = \"lots\"\n")
        #expect(throws: ConfigError(.invalidValue, file: path, line: 3,
                                    "containers.pids_limit: expected an integer, found a string")) {
            try load(tree)
        }
        tree.write("etc/containers.conf", "[containers]\nenv = [\"A=1\", 2]\n")
        #expect(throws: ConfigError(.invalidValue, file: path, line: 2,
                                    "containers.env: expected an array of strings, found an integer in the array")) {
            try load(tree)
        }
    }

    @Test func unknownKeysWarnWithoutFailing() throws {
        let tree = TempTree()
        let path = tree.write("etc/containers.conf", """
            [containers]
            pids_limit = 5
            no_such_key = 1
            [mystery]
            x = 1
            """)
        let config = try load(tree)
        #expect(config.pidsLimit == 5)
        #expect(config.warnings == [
            ConfigWarning(file: path, line: 3, message: "unknown key 'no_such_key' in [containers], ignored"),
            ConfigWarning(file: path, line: 4, message: "unknown key 'mystery' at the top level, ignored"),
        ])
    }

    @Test func missingFileNamedByEnvironmentIsAnError() throws {
        let tree = TempTree()
        let missing = tree.root + "/nope.conf"
        #expect(throws: ConfigError(.missingFile, file: missing, "no such file (named by the environment)")) {
            try load(tree, variables: ["CONTAINERS_CONF": missing])
        }
    }

    @Test func unreadableFileIsAnError() throws {
        let tree = TempTree()
        let dir = tree.root + "/etc/containers.conf"
        tree.write("etc/containers.conf/x", "")   // a directory where the file should be
        do {
            _ = try load(tree)
            Issue.record("loaded a directory as a file")
        } catch let error as ConfigError {
            #expect(error.code == .unreadable)
            #expect(error.file == dir)
            #expect(error.message == "Is a directory")
        }
    }
}

/// Where storage ends up, for root and for a rootless user.
struct StorageResolutionTests {
    func load(_ tree: TempTree, uid: UInt32, files: [(String, String)] = [],
              variables: [String: String] = [:]) throws -> EngineConfig {
        for (path, text) in files { tree.write(path, text) }
        let env = ConfigEnvironment(uid: uid, user: uid == 0 ? "root" : "alice", home: "/home/alice",
                                    variables: variables,
                                    systemDirectories: [tree.root + "/usr", tree.root + "/etc"])
        return try ConfigLoader(environment: env).load()
    }

    @Test func rootlessDefaultsToXDGDataHome() throws {
        let tree = TempTree()
        let config = try load(tree, uid: 1000, variables: ["XDG_RUNTIME_DIR": "/run/user/1000"])
        #expect(config.graphRootPath == "/home/alice/.local/share/containers/storage")
        #expect(config.skiffRoot == "/home/alice/.local/share/containers/storage/skiff")
        #expect(config.runRootPath == "/run/user/1000/containers")
        #expect(config.defaultSocketPath == "/run/user/1000/skiff/skiff.sock")
        #expect(config.graphRoot.origin == .environment("HOME"))

        let moved = try load(TempTree(), uid: 1000, variables: ["XDG_DATA_HOME": "/data"])
        #expect(moved.graphRootPath == "/data/containers/storage")
        #expect(moved.runtimeDirectoryPath == "/run/user/1000/skiff")
    }

    @Test func rootlessStoragePathIsExpanded() throws {
        let tree = TempTree()
        let config = try load(tree, uid: 1000, files: [
            ("etc/storage.conf", "[storage]\ngraphroot = \"/var/lib/containers/storage\"\n"
                + "rootless_storage_path = \"$HOME/s/${USER}/$UID\"\n")])
        #expect(config.graphRootPath == "/home/alice/s/alice/1000")
        #expect(config.graphRoot.origin == .derived(from: "rootless_storage_path",
                                                    .file(path: tree.root + "/etc/storage.conf", line: 3)))
    }

    @Test func rootlessUsersOwnGraphrootWins() throws {
        let tree = TempTree()
        let config = try load(tree, uid: 1000, files: [
            ("etc/storage.conf", "[storage]\nrootless_storage_path = \"$HOME/x\"\n"),
            ("home/.config/containers/storage.conf", "[storage]\ngraphroot = \"/fast/alice\"\n")],
            variables: ["XDG_CONFIG_HOME": tree.root + "/home/.config"])
        #expect(config.graphRootPath == "/fast/alice")
        #expect(config.graphRoot.origin == .file(path: tree.root + "/home/.config/containers/storage.conf", line: 2))
    }

    @Test func rootUsesGraphrootAndRunSkiff() throws {
        let tree = TempTree()
        let plain = try load(tree, uid: 0)
        #expect(plain.graphRootPath == "/var/lib/containers/storage")
        #expect(plain.defaultSocketPath == "/run/skiff/skiff.sock")
        let configured = try load(TempTree(), uid: 0, files: [
            ("etc/storage.conf", "[storage]\ngraphroot = \"/srv/storage\"\nrunroot = \"/run/x\"\n"
                + "rootless_storage_path = \"/ignored/for/root\"\n")])
        #expect(configured.graphRootPath == "/srv/storage")
        #expect(configured.runRootPath == "/run/x")
        #expect(configured.skiffRoot == "/srv/storage/skiff")
    }

    @Test func listingShowsOrigins() throws {
        let tree = TempTree()
        let config = try load(tree, uid: 1000, files: [
            ("home/.config/containers/containers.conf", ConfigLoaderTests.seedUserFile)],
            variables: ["XDG_CONFIG_HOME": tree.root + "/home/.config"])
        let lines = config.listing()
        let path = tree.root + "/home/.config/containers/containers.conf"
        #expect(lines.contains("file:\(path):10\tcontainers.default_capabilities=[\"CHOWN\", \"DAC_OVERRIDE\", "
            + "\"FOWNER\", \"FSETID\", \"KILL\", \"NET_BIND_SERVICE\", \"SETFCAP\", \"SETGID\", \"SETPCAP\", \"SETUID\"]"))
        #expect(lines.contains("builtin\tcontainers.pids_limit=2048"))
        #expect(lines.contains("file:\(path):31\tengine.runtimes.runc=[\"/usr/lib/cri-o-runc/sbin/runc\", \"/usr/bin/runc\"]"))
        #expect(config.listing(filter: "engine.service_timeout") == ["builtin\tengine.service_timeout=5"])
    }
}
