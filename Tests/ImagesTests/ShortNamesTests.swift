import Config
import Store
import Testing
@testable import Images

struct ShortNamesTests {
    static let sample = """
        unqualified-search-registries = ["quay.io", "docker.io", "localhost:5000/"]

        [[registry]]
        prefix = "example.com/team"
        location = "mirror.internal/example-team"
        insecure = true

        [[registry.mirror]]
        location = "cache.internal:5000"
        insecure = true

        [[registry]]
        location = "blocked.example"
        blocked = true

        [[registry]]
        prefix = "*.corp.example"
        blocked = true
        """

    @Test func parsesVersion2() throws {
        let config = try ShortNames(parsing: ShortNamesTests.sample, file: "registries.conf")
        #expect(config.unqualifiedSearchRegistries == ["quay.io", "docker.io", "localhost:5000"])
        #expect(config.registries == [
            .init(prefix: "example.com/team", location: "mirror.internal/example-team", insecure: true,
                  mirrors: [.init(location: "cache.internal:5000", insecure: true)]),
            .init(prefix: "blocked.example", location: "blocked.example", blocked: true),
            .init(prefix: "*.corp.example", location: "", blocked: true),
        ])
    }

    // Short names go to each search registry in order; names with a registry are themselves.
    @Test(arguments: [
        ("busybox", ["quay.io/busybox:latest", "docker.io/library/busybox:latest", "localhost:5000/busybox:latest"]),
        ("user/app:1", ["quay.io/user/app:1", "docker.io/user/app:1", "localhost:5000/user/app:1"]),
        ("busybox@sha256:" + String(repeating: "b", count: 64),
         ["quay.io/busybox@sha256:" + String(repeating: "b", count: 64),
          "docker.io/library/busybox@sha256:" + String(repeating: "b", count: 64),
          "localhost:5000/busybox@sha256:" + String(repeating: "b", count: 64)]),
        ("example.com/x", ["example.com/x:latest"]),
        ("localhost/x", ["localhost/x:latest"]),
        ("docker.io/busybox", ["docker.io/library/busybox:latest"]),
        ("index.docker.io/busybox", ["docker.io/library/busybox:latest"]),
    ])
    func candidatesWithSearchList(_ input: String, _ expected: [String]) throws {
        let config = try ShortNames(parsing: ShortNamesTests.sample, file: "registries.conf")
        #expect(try config.candidates(for: input).map(\.normalized) == expected)
    }

    @Test(arguments: [
        ("", "busybox", ["docker.io/library/busybox:latest"]),
        ("unqualified-search-registries = []", "user/app", ["docker.io/user/app:latest"]),
        ("[[registry]]\nlocation = \"quay.io\"", "busybox", ["docker.io/library/busybox:latest"]),
        ("unqualified-search-registries = [\"docker.io\", \"docker.io\"]", "busybox", ["docker.io/library/busybox:latest"]),
    ])
    func candidatesLikeDocker(_ text: String, _ input: String, _ expected: [String]) throws {
        let config = try ShortNames(parsing: text, file: "registries.conf")
        #expect(try config.candidates(for: input).map(\.normalized) == expected)
    }

    @Test func candidatesKeepDockerErrors() throws {
        let config = try ShortNames(parsing: ShortNamesTests.sample, file: "registries.conf")
        #expect { try config.candidates(for: "Busybox") } throws: {
            ($0 as? ImageError)?.message == "invalid reference format: repository name (library/Busybox) must be lowercase"
        }
        #expect { try config.candidates(for: "") } throws: { ($0 as? ImageError)?.message == "invalid reference format" }
    }

    @Test(arguments: [
        ("localhost", true), ("localhost:5000", true), ("LocalHost:80", true), ("127.0.0.1", true),
        ("127.0.0.1:5000", true), ("127.255.1.2:1", true), ("[::1]", true), ("[::1]:5000", true),
        ("[0:0:0:0:0:0:0:1]:5000", true), ("example.com/team", true), ("mirror.internal", true),
        ("cache.internal:5000", true),
        ("128.0.0.1", false), ("127.0.0.256", false), ("127.0.0", false), ("127.0.0.1.2", false),
        ("localhost.example", false), ("[::2]", false), ("docker.io", false), ("quay.io", false),
        ("example.com", false), ("example.com:5000", false), ("cache.internal", false), ("blocked.example", false),
    ])
    func insecure(_ registry: String, _ expected: Bool) throws {
        let config = try ShortNames(parsing: ShortNamesTests.sample, file: "registries.conf")
        #expect(config.isInsecure(registry) == expected)
    }

    @Test(arguments: [
        ("blocked.example/a", true), ("blocked.example:5000/a", true), ("blocked.examples/a", false),
        ("x.corp.example/a", true), ("corp.example/a", false), ("example.com/team/app", false), ("busybox", false),
    ])
    func blocked(_ input: String, _ expected: Bool) throws {
        let config = try ShortNames(parsing: ShortNamesTests.sample, file: "registries.conf")
        #expect(config.isBlocked(try Reference(parsing: input)) == expected)
    }

    @Test func longestPrefixWins() throws {
        let config = try ShortNames(parsing: """
            [[registry]]
            location = "example.com"
            [[registry]]
            prefix = "example.com/team"
            location = "other.example/team"
            [[registry]]
            prefix = "example.com/team"
            location = "ignored.example"
            """, file: "r.conf")
        #expect(config.registries.count == 2)
        #expect(config.registry(for: try Reference(parsing: "example.com/team/app:1"))?.location == "other.example/team")
        #expect(config.registry(for: try Reference(parsing: "example.com/teams/app"))?.location == "example.com")
        #expect(config.registry(for: try Reference(parsing: "busybox")) == nil)
    }

    @Test func convertsVersion1() throws {
        let config = try ShortNames(parsing: """
            [registries.search]
            registries = ["quay.io", "docker.io"]
            [registries.insecure]
            registries = ["my.registry:5000/"]
            [registries.block]
            registries = ["bad.example"]
            """, file: "r.conf")
        #expect(config.unqualifiedSearchRegistries == ["quay.io", "docker.io"])
        #expect(config.registries == [
            .init(prefix: "bad.example", location: "bad.example", blocked: true),
            .init(prefix: "my.registry:5000", location: "my.registry:5000", insecure: true),
        ])
        #expect(config.isInsecure("my.registry:5000"))
    }

    @Test(arguments: [
        ("unqualified-search-registries = \"quay.io\"",
         "r.conf:1: unqualified-search-registries must be an array of strings, not a string"),
        ("unqualified-search-registries = [1]",
         "r.conf:1: unqualified-search-registries must be an array of strings, not an array"),
        ("unqualified-search-registries = [\"https://quay.io\"]",
         "r.conf:1: invalid location 'https://quay.io': URI schemes are not supported"),
        ("unqualified-search-registries = [\"quay.io/ns\"]", "r.conf: Invalid unqualified-search-registries entry \"quay.io/ns\""),
        ("unqualified-search-registries = [\"\"]", "r.conf:1: invalid location: cannot be empty"),
        ("[[registry]]\nprefix = \"\"", "r.conf:1: invalid location: cannot be empty"),
        ("[[registry]]\nlocation = \"x.io\"\ninsecure = \"yes\"", "r.conf:3: insecure must be a boolean, not a string"),
        ("[[registry]]\nlocation = 5", "r.conf:2: location must be a string, not an integer"),
        ("registry = 1", "r.conf:1: registry must be an array of tables, not an integer"),
        ("[[registry]]\nprefix = \"*.x.io\"\nlocation = \"y.io\"",
         "r.conf:3: pull-through using a wildcarded prefix \"*.x.io\" is not supported"),
        ("[[registry]]\nlocation = \"x.io\"\ninsecure = true\n[[registry]]\nprefix = \"x.io/a\"\nlocation = \"x.io\"",
         "r.conf: registry 'x.io' is defined multiple times with conflicting 'insecure' setting"),
        ("unqualified-search-registries = [\"a.io\"]\n[registries.search]\nregistries = []",
         "r.conf:2: mixing sysregistry v1/v2 is not supported"),
        ("unqualified-search-registries = [", "r.conf:1: unterminated array: expected ']'"),
    ])
    func refuses(_ text: String, _ message: String) {
        #expect {
            try ShortNames(parsing: text, file: "r.conf")
        } throws: { error in
            guard let error = error as? ImageError else { return false }
            return error.code == .invalidArgument && error.message == message
        }
    }

    @Test func dropInsOverride() throws {
        var config = try ShortNames(parsing: ShortNamesTests.sample, file: "a.conf")
        // A drop-in without the key keeps the search list; its registries merge by prefix.
        config.merge(try ShortNames(parsing: """
            [[registry]]
            location = "blocked.example"
            [[registry]]
            location = "z.example"
            insecure = true
            [[registry]]
            location = "m.example"
            """, file: "b.conf"))
        #expect(config.unqualifiedSearchRegistries == ["quay.io", "docker.io", "localhost:5000"])
        #expect(config.registries.map(\.prefix) == ["example.com/team", "blocked.example", "*.corp.example",
                                                     "m.example", "z.example"])
        #expect(!config.isBlocked(try Reference(parsing: "blocked.example/a")))
        config.merge(try ShortNames(parsing: "unqualified-search-registries = [\"ghcr.io\"]", file: "c.conf"))
        #expect(try config.candidates(for: "a").map(\.normalized) == ["ghcr.io/a:latest"])
        config.merge(try ShortNames(parsing: "unqualified-search-registries = []", file: "d.conf"))
        #expect(try config.candidates(for: "a").map(\.normalized) == ["docker.io/library/a:latest"])
    }

    // MARK: Which files

    static func environment(uid: UInt32, _ variables: [String: String] = [:]) -> ConfigEnvironment {
        ConfigEnvironment(uid: uid, user: "u", home: "/home/u", variables: variables, systemDirectories: ["/usr/share/containers", "/etc/containers"])
    }

    static let directories: [String: [String]] = [
        "/etc/containers/registries.conf.d": ["b.conf", "a.conf", "notes.txt", ".hidden.conf"],
        "/home/u/.config/containers/registries.conf.d": ["z.conf"],
        "/xdg/containers/registries.conf.d": ["y.conf"],
    ]

    static func paths(_ environment: ConfigEnvironment, existing: Set<String> = []) -> [String] {
        ShortNames.files(environment: environment, exists: { existing.contains($0) },
                         entries: { directories[$0] }).map { $0.required ? $0.path + " (required)" : $0.path }
    }

    @Test func filesForRoot() {
        #expect(ShortNamesTests.paths(ShortNamesTests.environment(uid: 0), existing: ["/home/u/.config/containers/registries.conf"]) == [
            "/etc/containers/registries.conf",
            "/etc/containers/registries.conf.d/a.conf",
            "/etc/containers/registries.conf.d/b.conf",
        ])
    }

    @Test func filesForAUser() {
        #expect(ShortNamesTests.paths(ShortNamesTests.environment(uid: 1000)) == [
            "/etc/containers/registries.conf",
            "/etc/containers/registries.conf.d/a.conf",
            "/etc/containers/registries.conf.d/b.conf",
            "/home/u/.config/containers/registries.conf.d/z.conf",
        ])
        #expect(ShortNamesTests.paths(ShortNamesTests.environment(uid: 1000, ["XDG_CONFIG_HOME": "/xdg"])) == [
            "/etc/containers/registries.conf",
            "/etc/containers/registries.conf.d/a.conf",
            "/etc/containers/registries.conf.d/b.conf",
            "/xdg/containers/registries.conf.d/y.conf",
        ])
    }

    @Test func aUsersOwnFileReplacesTheSystemFiles() {
        #expect(ShortNamesTests.paths(ShortNamesTests.environment(uid: 1000, ["XDG_CONFIG_HOME": "/xdg"]),
                                      existing: ["/xdg/containers/registries.conf"]) == [
            "/xdg/containers/registries.conf",
            "/xdg/containers/registries.conf.d/y.conf",
        ])
    }

    @Test func environmentVariableNamesTheMainFile() {
        let environment = ShortNamesTests.environment(uid: 1000, ["CONTAINERS_REGISTRIES_CONF": "/tmp/r.conf"])
        #expect(ShortNamesTests.paths(environment, existing: ["/home/u/.config/containers/registries.conf"]) == [
            "/tmp/r.conf (required)",
            "/etc/containers/registries.conf.d/a.conf",
            "/etc/containers/registries.conf.d/b.conf",
            "/home/u/.config/containers/registries.conf.d/z.conf",
        ])
    }

    @Test func loadReadsAndMergesFiles() throws {
        let dir = "/tmp/skiff-shortnames-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystemHelper.write(dir + "/registries.conf", "unqualified-search-registries = [\"quay.io\"]\n")
        try FileSystemHelper.write(dir + "/registries.conf.d/10-x.conf", "[[registry]]\nlocation = \"x.io\"\ninsecure = true\n")
        defer { FileSystemHelper.remove(dir) }
        let environment = ConfigEnvironment(uid: 0, user: "root", home: "/root", variables: [:], systemDirectories: [dir])
        let config = try ShortNames.load(environment: environment)
        #expect(config.unqualifiedSearchRegistries == ["quay.io"])
        #expect(config.isInsecure("x.io"))

        let missing = ConfigEnvironment(uid: 0, user: "root", home: "/root",
                                        variables: ["CONTAINERS_REGISTRIES_CONF": dir + "/none.conf"], systemDirectories: [dir])
        #expect { try ShortNames.load(environment: missing) } throws: {
            ($0 as? ImageError)?.message == "read registries configuration \(dir)/none.conf: No such file or directory"
        }
        let absent = ConfigEnvironment(uid: 0, user: "root", home: "/root", variables: [:], systemDirectories: [dir + "/nothing"])
        #expect(try ShortNames.load(environment: absent) == ShortNames())
    }
}

import Platform

/// Small file helpers for the load test, on Platform's primitives.
enum FileSystemHelper {
    static func write(_ path: String, _ text: String) throws {
        let dir = String(path[..<path.lastIndex(of: "/")!])
        try FileSystem.makeDirectories(dir, mode: 0o755)
        try FileSystem.writeAtomically(path, Array(text.utf8), mode: 0o644)
    }

    static func remove(_ path: String) {
        FileSystem.removeTree(path)
    }
}
