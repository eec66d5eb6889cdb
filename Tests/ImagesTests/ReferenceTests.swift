import Store
import Testing
@testable import Images

struct ReferenceTests {
    static let hex = String(repeating: "a", count: 64)
    static let sha = "sha256:" + hex

    struct Valid: Sendable, CustomTestStringConvertible {
        var input: String
        var normalized: String
        var familiar: String
        var testDescription: String { input.isEmpty ? "(empty)" : input }
    }

    // Input, what to pull (ParseDockerRef), and the familiar repository name.
    @Test(arguments: [
        Valid(input: "busybox", normalized: "docker.io/library/busybox:latest", familiar: "busybox"),
        Valid(input: "busybox:1.36", normalized: "docker.io/library/busybox:1.36", familiar: "busybox"),
        Valid(input: "user/app", normalized: "docker.io/user/app:latest", familiar: "user/app"),
        Valid(input: "user/app/sub", normalized: "docker.io/user/app/sub:latest", familiar: "user/app/sub"),
        Valid(input: "docker.io/busybox", normalized: "docker.io/library/busybox:latest", familiar: "busybox"),
        Valid(input: "docker.io/library/busybox", normalized: "docker.io/library/busybox:latest", familiar: "busybox"),
        Valid(input: "docker.io/library/a/b", normalized: "docker.io/library/a/b:latest", familiar: "library/a/b"),
        Valid(input: "index.docker.io/library/busybox:1", normalized: "docker.io/library/busybox:1", familiar: "busybox"),
        Valid(input: "index.docker.io/busybox", normalized: "docker.io/library/busybox:latest", familiar: "busybox"),
        Valid(input: "index.docker.io/user/app", normalized: "docker.io/user/app:latest", familiar: "user/app"),
        Valid(input: "localhost/x", normalized: "localhost/x:latest", familiar: "localhost/x"),
        Valid(input: "localhost:5000/x", normalized: "localhost:5000/x:latest", familiar: "localhost:5000/x"),
        Valid(input: "localhost:5000/x:v1", normalized: "localhost:5000/x:v1", familiar: "localhost:5000/x"),
        Valid(input: "localhost", normalized: "docker.io/library/localhost:latest", familiar: "localhost"),
        Valid(input: "localhost:5000", normalized: "docker.io/library/localhost:5000", familiar: "localhost"),
        Valid(input: "example.com/a/b", normalized: "example.com/a/b:latest", familiar: "example.com/a/b"),
        Valid(input: "example:5000/a", normalized: "example:5000/a:latest", familiar: "example:5000/a"),
        Valid(input: "Example.COM/a", normalized: "Example.COM/a:latest", familiar: "Example.COM/a"),
        Valid(input: "Foo/bar", normalized: "Foo/bar:latest", familiar: "Foo/bar"),
        Valid(input: "127.0.0.1:5000/a", normalized: "127.0.0.1:5000/a:latest", familiar: "127.0.0.1:5000/a"),
        Valid(input: "[::1]:5000/a", normalized: "[::1]:5000/a:latest", familiar: "[::1]:5000/a"),
        Valid(input: "[2001:db8::1]/a:t", normalized: "[2001:db8::1]/a:t", familiar: "[2001:db8::1]/a"),
        Valid(input: "a-b.example/c", normalized: "a-b.example/c:latest", familiar: "a-b.example/c"),
        Valid(input: "foo.bar", normalized: "docker.io/library/foo.bar:latest", familiar: "foo.bar"),
        Valid(input: "a_b", normalized: "docker.io/library/a_b:latest", familiar: "a_b"),
        Valid(input: "a__b", normalized: "docker.io/library/a__b:latest", familiar: "a__b"),
        Valid(input: "a---b", normalized: "docker.io/library/a---b:latest", familiar: "a---b"),
        Valid(input: "a.b-c_d__e", normalized: "docker.io/library/a.b-c_d__e:latest", familiar: "a.b-c_d__e"),
        Valid(input: "busybox:Tag_1.x-Y", normalized: "docker.io/library/busybox:Tag_1.x-Y", familiar: "busybox"),
        Valid(input: "busybox:_", normalized: "docker.io/library/busybox:_", familiar: "busybox"),
        Valid(input: "busybox@" + sha, normalized: "docker.io/library/busybox@" + sha, familiar: "busybox"),
        Valid(input: "busybox:1@" + sha, normalized: "docker.io/library/busybox@" + sha, familiar: "busybox"),
        Valid(input: "localhost:5000/x:1@" + sha, normalized: "localhost:5000/x@" + sha, familiar: "localhost:5000/x"),
        Valid(input: "busybox@sha512:" + String(repeating: "0", count: 128),
              normalized: "docker.io/library/busybox@sha512:" + String(repeating: "0", count: 128), familiar: "busybox"),
        Valid(input: hex + ":latest", normalized: "docker.io/library/" + hex + ":latest", familiar: hex),
        Valid(input: String(repeating: "a", count: 63), normalized: "docker.io/library/" + String(repeating: "a", count: 63) + ":latest",
              familiar: String(repeating: "a", count: 63)),
        Valid(input: "a:" + String(repeating: "t", count: 128),
              normalized: "docker.io/library/a:" + String(repeating: "t", count: 128), familiar: "a"),
        Valid(input: "u/" + String(repeating: "p", count: 253),
              normalized: "docker.io/u/" + String(repeating: "p", count: 253) + ":latest",
              familiar: "u/" + String(repeating: "p", count: 253)),
    ])
    func parsesAndNormalizes(_ c: Valid) throws {
        let reference = try Reference(parsing: c.input)
        #expect(reference.normalized == c.normalized)
        #expect(reference.familiarName == c.familiar)
    }

    @Test func keepsEveryPart() throws {
        let reference = try Reference(parsing: "localhost:5000/ns/app:v2@" + ReferenceTests.sha)
        #expect(reference.domain == "localhost:5000")
        #expect(reference.path == "ns/app")
        #expect(reference.tag == "v2")
        #expect(reference.digest == ReferenceTests.sha)
        #expect(reference.name == "localhost:5000/ns/app")
        #expect(reference.description == "localhost:5000/ns/app:v2@" + ReferenceTests.sha)
        #expect(reference.familiarString == "localhost:5000/ns/app:v2@" + ReferenceTests.sha)

        let short = try Reference(parsing: "busybox")
        #expect(short.tag == nil && short.digest == nil)
        #expect(short.description == "docker.io/library/busybox")
        #expect(short.withDefaultTag.description == "docker.io/library/busybox:latest")
        #expect(short.withDefaultTag.familiarString == "busybox:latest")
        #expect(short.isDockerHub)
        #expect(try Reference(parsing: "user/app:1").familiarString == "user/app:1")
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var input: String
        var message: String
        var testDescription: String { input.isEmpty ? "(empty)" : String(input.prefix(60)) }
    }

    // Docker's exact words for each refusal.
    @Test(arguments: [
        Invalid(input: "", message: "invalid reference format"),
        Invalid(input: ":tag", message: "invalid reference format"),
        Invalid(input: ":", message: "invalid reference format"),
        Invalid(input: "@" + sha, message: "invalid reference format"),
        Invalid(input: "busybox:", message: "invalid reference format"),
        Invalid(input: "busybox@", message: "invalid reference format"),
        Invalid(input: "busybox/", message: "invalid reference format"),
        Invalid(input: "user/app/", message: "invalid reference format"),
        Invalid(input: "/busybox", message: "invalid reference format"),
        Invalid(input: "a//b", message: "invalid reference format"),
        Invalid(input: "a..b", message: "invalid reference format"),
        Invalid(input: "a___b", message: "invalid reference format"),
        Invalid(input: "a._b", message: "invalid reference format"),
        Invalid(input: "a-", message: "invalid reference format"),
        Invalid(input: "-a", message: "invalid reference format"),
        Invalid(input: "_a", message: "invalid reference format"),
        Invalid(input: "a.", message: "invalid reference format"),
        Invalid(input: ":5000/x", message: "invalid reference format"),
        Invalid(input: "localhost:/x", message: "invalid reference format"),
        Invalid(input: "localhost:50a/x", message: "invalid reference format"),
        Invalid(input: "-host.com/x", message: "invalid reference format"),
        Invalid(input: "host-.com/x", message: "invalid reference format"),
        Invalid(input: "host..com/x", message: "invalid reference format"),
        Invalid(input: "[]/x", message: "invalid reference format"),
        Invalid(input: "[::1/x", message: "invalid reference format"),
        Invalid(input: "[fe80::1%eth0]/x", message: "invalid reference format"),
        Invalid(input: "[::1]5000/x", message: "invalid reference format"),
        Invalid(input: "[::1]:5000", message: "invalid reference format"),
        Invalid(input: "a_b.c/d", message: "invalid reference format"),
        Invalid(input: "busybox:-tag", message: "invalid reference format"),
        Invalid(input: "busybox:.tag", message: "invalid reference format"),
        Invalid(input: "busybox:t/a", message: "invalid reference format"),
        Invalid(input: "busybox:a:b", message: "invalid reference format"),
        Invalid(input: "busybox:" + String(repeating: "t", count: 129), message: "invalid reference format"),
        Invalid(input: "busybox@sha256:../../x", message: "invalid reference format"),
        Invalid(input: "sha256:../../x", message: "invalid reference format"),
        Invalid(input: "busybox@sha256:abc", message: "invalid reference format"),
        Invalid(input: "busybox@" + sha + "@" + sha, message: "invalid reference format"),
        Invalid(input: "busybox@1sha:" + hex, message: "invalid reference format"),
        Invalid(input: "busybox@sha256:" + String(repeating: "a", count: 40), message: "invalid checksum digest format"),
        Invalid(input: "busybox@sha256:" + String(repeating: "A", count: 64), message: "invalid checksum digest format"),
        Invalid(input: "busybox@sha512:" + hex, message: "invalid checksum digest format"),
        Invalid(input: "busybox:1@SHA256:" + hex, message: "invalid checksum digest format"),
        // moby checks the text up to the first ':' for uppercase, so a digest's algorithm counts.
        Invalid(input: "busybox@SHA256:" + hex,
                message: "invalid reference format: repository name (library/busybox@SHA256) must be lowercase"),
        Invalid(input: "busybox@md5:" + String(repeating: "0", count: 32), message: "unsupported digest algorithm"),
        Invalid(input: "busybox@sha3+b64:" + hex, message: "unsupported digest algorithm"),
        Invalid(input: hex, message: "invalid repository name (\(hex)), cannot specify 64-byte hexadecimal strings"),
        Invalid(input: "Busybox", message: "invalid reference format: repository name (library/Busybox) must be lowercase"),
        Invalid(input: "user/App:1", message: "invalid reference format: repository name (user/App) must be lowercase"),
        Invalid(input: "localhost:5000/Foo", message: "invalid reference format: repository name (Foo) must be lowercase"),
        Invalid(input: "Foo/Bar", message: "invalid reference format: repository name (Bar) must be lowercase"),
        Invalid(input: "Busybox@" + sha,
                message: "invalid reference format: repository name (library/Busybox@sha256) must be lowercase"),
        Invalid(input: "u/" + String(repeating: "p", count: 254),
                message: "repository name must not be more than 255 characters"),
        Invalid(input: "busybox latest", message: "invalid reference format"),
        Invalid(input: "busybøx", message: "invalid reference format"),
    ])
    func refuses(_ c: Invalid) {
        #expect {
            try Reference(parsing: c.input)
        } throws: { error in
            guard let error = error as? ImageError else { return false }
            return error.code == .invalidArgument && error.message == c.message
        }
    }

    @Test func uppercaseAfterTheRemoteIsReportedByTheGrammar() {
        // moby's Parse retries lowercased input; "x.com/a:5000/B" fails both ways.
        #expect(throws: ImageError.self) { try Reference(parsing: "x.com/a:5000/B") }
        #expect(throws: Never.self) { try Reference.parseCanonical("Example.com/a") }
    }

    @Test func withTagAndDigest() throws {
        let reference = try Reference(parsing: "busybox@" + ReferenceTests.sha)
        let tagged = try reference.withTag("1.36")
        #expect(tagged.description == "docker.io/library/busybox:1.36@" + ReferenceTests.sha)
        let plain = try Reference(parsing: "busybox:1")
        #expect(try plain.withDigest(ReferenceTests.sha).description == "docker.io/library/busybox:1@" + ReferenceTests.sha)
        #expect(try plain.withTag("2").normalized == "docker.io/library/busybox:2")
        for (bad, message) in [("-x", "invalid tag format"), ("", "invalid tag format"),
                               (String(repeating: "t", count: 129), "invalid tag format")] {
            #expect { try plain.withTag(bad) } throws: { ($0 as? ImageError)?.message == message }
        }
        #expect { try plain.withDigest("sha256:../../x") } throws: { ($0 as? ImageError)?.message == "invalid digest format" }
        #expect { try plain.withDigest("sha256:" + String(repeating: "a", count: 40)) } throws: {
            ($0 as? ImageError)?.message == "invalid checksum digest format"
        }
    }

    @Test(arguments: [
        ("busybox", false), ("user/app", false), ("localhost/x", true), ("localhost:5000/x", true),
        ("example.com/x", true), ("Foo/x", true), ("[::1]/x", true), ("busybox:1.0", false),
        ("index.docker.io/x", true),
    ])
    func explicitDomain(_ input: String, _ expected: Bool) {
        #expect(Reference.hasExplicitDomain(input) == expected)
    }
}
