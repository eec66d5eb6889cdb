import Testing
@testable import Images

/// registries.conf's `[aliases]`, `short-name-mode`, mirrors with `pull-from-mirror` and
/// prefix rewriting (`ShortNames+Aliases.swift`).
struct ShortNamesAliasesTests {
    static let sample = "short-name-mode = \"permissive\"\n" + body

    static let body = """
        unqualified-search-registries = ["one.test", "two.test"]

        [aliases]
        "app" = "one.test/team/app"
        "ns/tool" = "two.test/tools/tool"

        [[registry]]
        prefix = "example.test/team"
        location = "127.0.0.1:5000/team"

        [[registry.mirror]]
        location = "mirror.test/cache"

        [[registry.mirror]]
        location = "digests.test/cache"
        pull-from-mirror = "digest-only"

        [[registry.mirror]]
        location = "tags.test/cache"
        pull-from-mirror = "tag-only"
        insecure = true

        [[registry]]
        prefix = "docker.io"
        location = "docker.io"
        mirror-by-digest-only = true

        [[registry.mirror]]
        location = "hub-mirror.test"
        """

    static let digest = "sha256:" + String(repeating: "a", count: 64)

    @Test(arguments: [
        ("app", ["one.test/team/app"]),
        ("app:1.2", ["one.test/team/app:1.2"]),
        ("ns/tool", ["two.test/tools/tool"]),
        ("other", ["one.test/other", "two.test/other"]),
        ("x.test/app", ["x.test/app"]),
    ])
    func aliasesComeFirst(_ input: String, _ expected: [String]) throws {
        let config = try ShortNames(parsing: ShortNamesAliasesTests.sample, file: "r.conf")
        #expect(config.shortNameMode == "permissive")
        #expect(try config.candidates(for: input).map(\.description) == expected)
    }

    @Test func enforcingRefusesAmbiguousShortNames() throws {
        let config = try ShortNames(parsing: "short-name-mode = \"enforcing\"\n" + ShortNamesAliasesTests.body, file: "r.conf")
        #expect(try config.candidates(for: "app").map(\.description) == ["one.test/team/app"])
        #expect(throws: ImageError.self) { try config.candidates(for: "other") }
    }

    @Test func mirrorsThenTheLocationWithThePrefixRewritten() throws {
        let config = try ShortNames(parsing: ShortNamesAliasesTests.sample, file: "r.conf")
        let byTag = try config.pullSources(for: try Reference(parsing: "example.test/team/app:v1"))
        #expect(byTag.map(\.reference.description) == ["mirror.test/cache/app:v1", "tags.test/cache/app:v1",
                                                       "127.0.0.1:5000/team/app:v1"])
        #expect(byTag.map(\.insecure) == [false, true, true])
        #expect(byTag.map(\.isMirror) == [true, true, false])
        let byDigest = try config.pullSources(for: try Reference(parsing: "example.test/team/app@" + ShortNamesAliasesTests.digest))
        #expect(byDigest.map(\.reference.description) == ["mirror.test/cache/app@" + ShortNamesAliasesTests.digest,
                                                          "digests.test/cache/app@" + ShortNamesAliasesTests.digest,
                                                          "127.0.0.1:5000/team/app@" + ShortNamesAliasesTests.digest])
        // mirror-by-digest-only: the hub mirror for digests only.
        #expect(try config.pullSources(for: try Reference(parsing: "alpine:3.10")).map(\.reference.description)
                == ["docker.io/library/alpine:3.10"])
        #expect(try config.pullSources(for: try Reference(parsing: "alpine@" + ShortNamesAliasesTests.digest)).map(\.reference.description)
                == ["hub-mirror.test/library/alpine@" + ShortNamesAliasesTests.digest,
                    "docker.io/library/alpine@" + ShortNamesAliasesTests.digest])
        // No table: the reference itself.
        #expect(try config.pullSources(for: try Reference(parsing: "other.test/x:1")).map(\.reference.description) == ["other.test/x:1"])
    }

    @Test(arguments: [
        ("short-name-mode = \"sometimes\"\n", "r.conf:1: invalid short-name mode: \"sometimes\""),
        ("[aliases]\n\"x.test/app\" = \"y.test/app\"\n",
         "r.conf: invalid short name \"x.test/app\": must be a short name without a registry, tag or digest"),
        ("[aliases]\napp = \"app\"\n", "r.conf: invalid alias value \"app\" of \"app\": must be a name with a registry"),
        ("[aliases]\napp = \"y.test/app:1\"\n", "r.conf: invalid alias value \"y.test/app:1\" of \"app\": must not have a tag or digest"),
        ("[[registry]]\nlocation = \"a.test\"\n[[registry.mirror]]\nlocation = \"b.test\"\npull-from-mirror = \"never\"\n",
         "r.conf:4: unsupported pull-from-mirror value \"never\" for mirror b.test"),
        ("[[registry]]\nlocation = \"a.test\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"b.test\"\npull-from-mirror = \"all\"\n",
         "r.conf:5: cannot set mirror usage mirror-by-digest-only for the registry (a.test) and pull-from-mirror for per-mirror (b.test) at the same time"),
    ])
    func badInputIsRefused(_ text: String, _ message: String) {
        do {
            _ = try ShortNames(parsing: text, file: "r.conf")
            Issue.record("parsed: \(text)")
        } catch {
            #expect(error.message == message)
        }
    }

    @Test func laterFilesOverrideAliasesAndMode() throws {
        var config = try ShortNames(parsing: ShortNamesAliasesTests.sample, file: "a.conf")
        config.merge(try ShortNames(parsing: "short-name-mode = \"disabled\"\n[aliases]\napp = \"three.test/app\"\n", file: "b.conf"))
        #expect(config.shortNameMode == "disabled")
        #expect(config.alias(for: "app:1") == "three.test/app")
        #expect(config.alias(for: "ns/tool") == "two.test/tools/tool")
        config.addCachedAliases(try ShortNames(parsing: "[aliases]\napp = \"cache.test/app\"\nnew = \"cache.test/new\"\n", file: "c.conf"))
        #expect(config.alias(for: "app") == "three.test/app")
        #expect(config.alias(for: "new") == "cache.test/new")
    }
}
