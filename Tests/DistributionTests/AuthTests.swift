import Images
import Platform
import Testing
@testable import Distribution

/// A registry that wants a bearer token from its own /token endpoint, issued for user:secret
/// (or anonymously when `anonymous`), and accepts only that token.
func tokenRegistry(anonymous: Bool = false, token: String = "good-token") -> TestServer {
    TestServer { request in
        let host = request.headers["host"] ?? ""
        if request.path == "/token" {
            if request.method == "POST" {
                return .http(200, body: Array(#"{"access_token":"\#(token)","expires_in":300}"#.utf8))
            }
            guard anonymous || request.headers["authorization"] == "Basic dXNlcjpzZWNyZXQ=" else {
                return .registryError(401, code: "UNAUTHORIZED", message: "incorrect username or password")
            }
            return .http(200, body: Array(#"{"token":"\#(token)","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}"#.utf8))
        }
        guard request.headers["authorization"] == "Bearer \(token)" else {
            let challenge = #"Bearer realm="http://\#(host)/token",service="test registry",scope="repository:library/alpine:pull""#
            return .registryError(401, code: "UNAUTHORIZED", message: "authentication required",
                                  [("WWW-Authenticate", challenge)])
        }
        return .http(200, [("Content-Type", MediaType.ociManifest)], body: manifestBytes)
    }
}

struct AuthTests {
    @Test func bearerChallengeFetchesATokenWithBasicCredentials() throws {
        let server = tokenRegistry()
        defer { server.stop() }
        let client = plainClient(server, credentials: Credentials(username: "user", password: "secret"))
        let result = try client.getManifest("latest", accept: [MediaType.ociManifest])
        #expect(result.digest == manifestDigest)
        let requests = server.requests
        #expect(requests.map(\.path) == ["/v2/library/alpine/manifests/latest", "/token", "/v2/library/alpine/manifests/latest"])
        #expect(requests[0].headers["authorization"] == nil)
        #expect(requests[1].method == "GET")
        #expect(requests[1].headers["authorization"] == "Basic dXNlcjpzZWNyZXQ=")
        #expect(requests[1].queryValues("service") == ["test registry"])
        #expect(requests[1].queryValues("scope") == ["repository:library/alpine:pull"])
        #expect(requests[1].queryValues("account") == ["user"])
        #expect(requests[2].headers["authorization"] == "Bearer good-token")

        // The token is kept for its scope: the next pull goes straight to the registry.
        _ = try client.getManifest("v2", accept: [])
        #expect(server.requests.count == 4)
        #expect(server.requests[3].headers["authorization"] == "Bearer good-token")
        // Pushing needs another scope: a new token, asked for pull,push.
        _ = try client.putManifest(manifestBytes, mediaType: MediaType.ociManifest, reference: "v3")
        let push = server.requests[4]
        #expect(push.path == "/token")
        #expect(push.queryValues("scope") == ["repository:library/alpine:pull,push"])
    }

    @Test func anonymousTokenWhenThereAreNoCredentials() throws {
        let server = tokenRegistry(anonymous: true)
        defer { server.stop() }
        _ = try plainClient(server).getManifest("latest", accept: [])
        let tokenRequest = try #require(server.requests.first { $0.path == "/token" })
        #expect(tokenRequest.headers["authorization"] == nil)
        #expect(tokenRequest.queryValues("account") == [])
    }

    @Test func identityTokenIsExchangedByPost() throws {
        let server = tokenRegistry()
        defer { server.stop() }
        let client = plainClient(server, credentials: Credentials(username: "user", identityToken: "refresh-me"))
        _ = try client.getManifest("latest", accept: [])
        let tokenRequest = try #require(server.requests.first { $0.path == "/token" })
        #expect(tokenRequest.method == "POST")
        #expect(tokenRequest.headers["content-type"] == "application/x-www-form-urlencoded")
        let form = String(decoding: tokenRequest.body, as: UTF8.self).split(separator: "&").map { pair in
            pair.split(separator: "=", maxSplits: 1).map { percentDecode(String($0)) }
        }
        #expect(form.contains(["grant_type", "refresh_token"]))
        #expect(form.contains(["refresh_token", "refresh-me"]))
        #expect(form.contains(["service", "test registry"]))
        #expect(form.contains(["scope", "repository:library/alpine:pull"]))
    }

    @Test func registryTokenIsUsedAsIs() throws {
        let server = tokenRegistry(token: "given")
        defer { server.stop() }
        _ = try plainClient(server, credentials: Credentials(registryToken: "given")).getManifest("latest", accept: [])
        #expect(server.requests.map(\.path) == ["/v2/library/alpine/manifests/latest", "/v2/library/alpine/manifests/latest"])
        #expect(server.requests.last?.headers["authorization"] == "Bearer given")
    }

    @Test func wrongPasswordIsUnauthorized() {
        let server = tokenRegistry()
        defer { server.stop() }
        let client = plainClient(server, credentials: Credentials(username: "user", password: "wrong"))
        let error = expectRegistryError(.unauthorized) { _ = try client.getManifest("latest", accept: []) }
        #expect(error?.message.includes("fetching a token: unauthorized: incorrect username or password") == true)
        #expect(error?.registryCode == "UNAUTHORIZED")
        #expect(error?.httpStatus == 401)
    }

    @Test func basicChallengeRetriesWithCredentials() throws {
        let server = TestServer { request in
            request.headers["authorization"] == "Basic dXNlcjpzZWNyZXQ="
                ? .http(200, body: manifestBytes)
                : .http(401, [("WWW-Authenticate", #"Basic realm="Registry Realm""#)])
        }
        defer { server.stop() }
        let client = plainClient(server, credentials: Credentials(username: "user", password: "secret"))
        _ = try client.getManifest("latest", accept: [])
        _ = try client.getManifest("latest", accept: [])
        // The second request sends Basic at once.
        #expect(server.requests.map { $0.headers["authorization"] ?? "-" } == ["-", "Basic dXNlcjpzZWNyZXQ=", "Basic dXNlcjpzZWNyZXQ="])
    }

    @Test func basicChallengeWithoutCredentialsIsUnauthorized() {
        let server = TestServer { _ in .http(401, [("WWW-Authenticate", #"Basic realm="Registry Realm""#)]) }
        defer { server.stop() }
        let error = expectRegistryError(.unauthorized) { _ = try plainClient(server).getManifest("latest", accept: []) }
        #expect(error?.message == "\(server.authority): the registry requires a user name and password (Basic authentication) and none were given")
        #expect(server.requests.count == 1)
    }

    @Test func secondRefusalIsUnauthorized() {
        // Issues tokens but never accepts them.
        let server = TestServer { request in
            if request.path == "/token" { return .http(200, body: Array(#"{"token":"useless"}"#.utf8)) }
            return .registryError(401, code: "UNAUTHORIZED", message: "authentication required",
                                  [("WWW-Authenticate", #"Bearer realm="http://\#(request.headers["host"]!)/token",service="s""#)])
        }
        defer { server.stop() }
        let client = plainClient(server, credentials: Credentials(username: "user", password: "secret"))
        let error = expectRegistryError(.unauthorized) { _ = try client.getManifest("latest", accept: []) }
        #expect(error?.message == "Get \"http://\(server.authority)/v2/library/alpine/manifests/latest\": "
                    + "unauthorized: authentication required: access refused as \"user\"")
        #expect(error?.registryCode == "UNAUTHORIZED")
        #expect(server.requests.map(\.path) == ["/v2/library/alpine/manifests/latest", "/token", "/v2/library/alpine/manifests/latest"])
    }

    @Test func challengeWithoutAKnownSchemeIsUnauthorized() {
        let server = TestServer { _ in .http(401, [("WWW-Authenticate", #"Negotiate abc=="#)]) }
        defer { server.stop() }
        let error = expectRegistryError(.unauthorized) { _ = try plainClient(server).getManifest("latest", accept: []) }
        #expect(error?.message.includes("no Bearer or Basic challenge") == true)
    }
}
