import Platform
import Testing
@testable import Distribution

/// Base64url without padding, as the docker CLI writes X-Registry-Auth.
func base64url(_ text: String) -> String {
    var s = Base64.encode(Array(text.utf8))
    while s.hasSuffix("=") { s.removeLast() }
    return String(s.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
}

struct RegistryAuthHeaderTests {
    @Test func urlSafeWithoutPadding() throws {
        // "?>" and "~~" make the encoding use '-' and '_'.
        let json = #"{"username":"me","password":"p?>~~","serveraddress":"registry.example:5000","email":""}"#
        let encoded = base64url(json)
        #expect(encoded.contains("_") || encoded.contains("-"))
        let credentials = try CredentialStore.decodeRegistryAuthHeader(encoded)
        #expect(credentials == Credentials(username: "me", password: "p?>~~"))
    }

    @Test func standardBase64WithPaddingAndTokens() throws {
        let json = #"{"Username":"me","IdentityToken":"refresh","registrytoken":"bearer"}"#
        let credentials = try CredentialStore.decodeRegistryAuthHeader(Base64.encode(Array(json.utf8)))
        #expect(credentials == Credentials(username: "me", identityToken: "refresh", registryToken: "bearer"))
    }

    @Test func authFieldGivesUserAndPassword() throws {
        let json = #"{"auth":"\#(Base64.encode(Array("user:pa:ss".utf8)))"}"#
        #expect(try CredentialStore.decodeRegistryAuthHeader(base64url(json)) == Credentials(username: "user", password: "pa:ss"))
    }

    @Test(arguments: ["", "  ", base64url("{}"), base64url(#"{"username":"","password":"","serveraddress":"x"}"#),
                      base64url(#"{"username":null}"#)])
    func emptyMeansAnonymous(header: String) throws {
        #expect(try CredentialStore.decodeRegistryAuthHeader(header) == nil)
    }

    @Test(arguments: [
        ("not base64!", "X-Registry-Auth: invalid base64"),
        (base64url("{nope"), "X-Registry-Auth: invalid JSON: line 1, column 2: expected a key in double quotes, found 'n'"),
        (base64url("[]"), "X-Registry-Auth: expected an object, found an array"),
        (base64url(#"{"username":1}"#), "X-Registry-Auth: username: expected a string, found a number"),
        (base64url(#"{"auth":"%%%"}"#), "X-Registry-Auth: invalid base64"),
    ])
    func malformed(header: String, message: String) {
        let error = expectRegistryError(.invalidArgument) { _ = try CredentialStore.decodeRegistryAuthHeader(header) }
        #expect(error?.message == message)
    }
}

/// Auth files in a temporary directory, removed afterwards.
final class AuthFiles {
    let directory = makeTemporaryDirectory("skiff-auth-test")
    deinit { FileSystem.removeTree(directory) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try FileSystem.writeAtomically(path, Array(text.utf8), durable: false)
        return path
    }

    static func auth(_ user: String, _ password: String) -> String { Base64.encode(Array("\(user):\(password)".utf8)) }
}

struct AuthFileTests {
    @Test func hostKeyAndURLKeys() throws {
        let files = AuthFiles()
        let file = try files.write("auth.json", """
            {"auths": {
              "registry.example:5000": {"auth": "\(AuthFiles.auth("plain", "1"))"},
              "https://secure.example": {"auth": "\(AuthFiles.auth("url", "2"))"},
              "http://legacy.example/v1/": {"auth": "\(AuthFiles.auth("legacy", "3"))", "identitytoken": "tok"}
            }}
            """)
        #expect(try CredentialStore.lookup(registry: "registry.example:5000", repository: "a/b", files: [file])
                    == Credentials(username: "plain", password: "1"))
        #expect(try CredentialStore.lookup(registry: "secure.example", repository: "a", files: [file])
                    == Credentials(username: "url", password: "2"))
        #expect(try CredentialStore.lookup(registry: "legacy.example", repository: "a", files: [file])
                    == Credentials(username: "legacy", password: "3", identityToken: "tok"))
        #expect(try CredentialStore.lookup(registry: "registry.example", repository: "a", files: [file]) == nil)
    }

    @Test func mostSpecificRepositoryKeyWins() throws {
        let files = AuthFiles()
        let file = try files.write("auth.json", """
            {"auths": {
              "quay.example/team/app": {"auth": "\(AuthFiles.auth("app", "3"))"},
              "quay.example": {"auth": "\(AuthFiles.auth("host", "1"))"},
              "quay.example/team": {"auth": "\(AuthFiles.auth("team", "2"))"}
            }}
            """)
        func user(_ repository: String) throws -> String? {
            try CredentialStore.lookup(registry: "quay.example", repository: repository, files: [file])?.username
        }
        #expect(try user("team/app") == "app")
        #expect(try user("team/app/sub") == "app")
        #expect(try user("team/application") == "team")
        #expect(try user("team/other") == "team")
        #expect(try user("teams/x") == "host")
        #expect(try user("other") == "host")
    }

    @Test(arguments: ["https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io", "docker.io"])
    func dockerHubAliases(key: String) throws {
        let files = AuthFiles()
        let file = try files.write("config.json", #"{"auths":{"\#(key)":{"auth":"\#(AuthFiles.auth("hub", "pw"))"}}}"#)
        #expect(try CredentialStore.lookup(registry: "docker.io", repository: "library/alpine", files: [file])
                    == Credentials(username: "hub", password: "pw"))
    }

    @Test func firstFileWithAMatchWinsAndMissingFilesAreSkipped() throws {
        let files = AuthFiles()
        let first = try files.write("first.json", #"{"auths":{"other.example":{"auth":"\#(AuthFiles.auth("o", "1"))"}}}"#)
        let second = try files.write("second.json", #"{"auths":{"reg.example":{"auth":"\#(AuthFiles.auth("second", "2"))"}}}"#)
        let third = try files.write("third.json", #"{"auths":{"reg.example":{"auth":"\#(AuthFiles.auth("third", "3"))"}}}"#)
        let missing = files.directory + "/missing.json"
        #expect(try CredentialStore.lookup(registry: "reg.example", repository: "x", files: [missing, first, second, third])?.username
                    == "second")
        // An entry without credentials (a credential helper's placeholder) does not count.
        let empty = try files.write("empty.json", #"{"auths":{"reg.example":{}},"credsStore":"desktop"}"#)
        #expect(try CredentialStore.lookup(registry: "reg.example", repository: "x", files: [empty, third])?.username == "third")
        #expect(try CredentialStore.lookup(registry: "reg.example", repository: "x", files: [missing]) == nil)
    }

    @Test func malformedFileIsAnErrorNamingIt() throws {
        let files = AuthFiles()
        let broken = try files.write("broken.json", #"{"auths": {"reg.example": {"auth": "x"},}"#)
        let error = expectRegistryError(.invalidArgument) {
            _ = try CredentialStore.lookup(registry: "reg.example", repository: "x", files: [broken])
        }
        #expect(error?.message == "\(broken): invalid JSON: line 1, column 42: expected ',' or '}', found the end of the file")
        let badAuth = try files.write("bad-auth.json", #"{"auths": {"reg.example": {"auth": "bm9jb2xvbg=="}}}"#)
        let authError = expectRegistryError(.invalidArgument) {
            _ = try CredentialStore.lookup(registry: "reg.example", repository: "x", files: [badAuth])
        }
        #expect(authError?.message == "\(badAuth): auths.reg.example.auth: expected base64 of user:password")
        let wrongType = try files.write("wrong.json", #"{"auths": []}"#)
        let typeError = expectRegistryError(.invalidArgument) {
            _ = try CredentialStore.lookup(registry: "reg.example", repository: "x", files: [wrongType])
        }
        #expect(typeError?.message == "\(wrongType): auths: expected an object, found an array")
    }

    @Test func defaultFilesFollowPodman() {
        #expect(CredentialStore.defaultFiles(environment: ["REGISTRY_AUTH_FILE": "/a.json", "HOME": "/home/u"]) == ["/a.json"])
        #expect(CredentialStore.defaultFiles(environment: ["XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/u"])
                    == ["/run/user/1000/containers/auth.json", "/home/u/.config/containers/auth.json", "/home/u/.docker/config.json"])
        #expect(CredentialStore.defaultFiles(environment: ["XDG_CONFIG_HOME": "/cfg", "HOME": "/home/u"])
                    == ["/cfg/containers/auth.json", "/home/u/.docker/config.json"])
        #expect(CredentialStore.defaultFiles(environment: [:]) == [])
    }
}
