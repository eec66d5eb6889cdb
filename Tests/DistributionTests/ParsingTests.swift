import Platform
import Testing
@testable import Distribution

struct AuthChallengeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var header: [String]
        var expected: [AuthChallenge]
        var testDescription: String { header.joined(separator: " | ") }
    }

    @Test(arguments: [
        Case(header: [#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#],
             expected: [AuthChallenge(scheme: "bearer", parameters: ["realm": "https://auth.docker.io/token",
                                                                     "service": "registry.docker.io",
                                                                     "scope": "repository:library/alpine:pull"])]),
        // Commas and escaped quotes inside quoted strings; spaces around '='.
        Case(header: [#"Bearer realm = "https://a/t?x=1,2" , scope="repository:a:pull,push", error="say \"no\"""#],
             expected: [AuthChallenge(scheme: "bearer", parameters: ["realm": "https://a/t?x=1,2",
                                                                     "scope": "repository:a:pull,push",
                                                                     "error": #"say "no""#])]),
        // Several challenges in one value, unquoted values, scheme in any case.
        Case(header: [#"BASIC realm=reg, Bearer realm="https://a/token",service=svc"#],
             expected: [AuthChallenge(scheme: "basic", parameters: ["realm": "reg"]),
                        AuthChallenge(scheme: "bearer", parameters: ["realm": "https://a/token", "service": "svc"])]),
        // Several header fields; a token68 challenge.
        Case(header: ["Negotiate abc==", #"Basic realm="x""#],
             expected: [AuthChallenge(scheme: "negotiate", parameters: ["abc": "="]),
                        AuthChallenge(scheme: "basic", parameters: ["realm": "x"])]),
        Case(header: ["Basic"], expected: [AuthChallenge(scheme: "basic", parameters: [:])]),
        Case(header: [""], expected: []),
    ])
    func parse(_ c: Case) {
        #expect(AuthChallenge.parse(c.header) == c.expected)
    }
}

struct HTTPURLTests {
    @Test(arguments: [
        ("https://registry.example/v2/", "https", "registry.example", 443, "/v2/"),
        ("http://127.0.0.1:5000", "http", "127.0.0.1", 5000, "/"),
        ("https://[::1]:8443/v2/x?a=b#frag", "https", "::1", 8443, "/v2/x?a=b"),
        ("HTTP://Host?q=1", "http", "Host", 80, "/?q=1"),
    ])
    func parse(text: String, scheme: String, host: String, port: Int, target: String) throws {
        let url = try #require(HTTPURL(text))
        #expect(url.scheme == scheme)
        #expect(url.host == host)
        #expect(url.port == port)
        #expect(url.target == target)
    }

    @Test(arguments: ["ftp://x/", "https://", "https://user@host/", "https://host:0/", "https://host:99999/", "https://[::1/"])
    func refuse(text: String) {
        #expect(HTTPURL(text) == nil)
    }

    @Test(arguments: [
        ("https://other.example/blob?sig=1", "https://other.example/blob?sig=1"),
        ("//cdn.example:8443/b", "https://cdn.example:8443/b"),
        ("/v2/r/blobs/uploads/u?_state=s", "https://reg:5000/v2/r/blobs/uploads/u?_state=s"),
        ("u2?x=1", "https://reg:5000/v2/r/blobs/uploads/u2?x=1"),
    ])
    func resolve(location: String, expected: String) throws {
        let base = try #require(HTTPURL("https://reg:5000/v2/r/blobs/uploads/?mount=x"))
        #expect(base.resolve(location)?.description == expected)
    }

    @Test func addingQueryEncodes() throws {
        let url = try #require(HTTPURL("http://h/upload?_state=a"))
        #expect(url.addingQuery("digest", "sha256:ab").target == "/upload?_state=a&digest=sha256%3Aab")
        #expect(try #require(HTTPURL("http://h/t")).addingQuery("scope", "repository:a/b:pull,push").target
                    == "/t?scope=repository%3Aa%2Fb%3Apull%2Cpush")
    }
}

struct Base64Tests {
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("user:secret", "dXNlcjpzZWNyZXQ="),
    ])
    func roundTrip(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func urlAlphabetAndMissingPadding() {
        #expect(Base64.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64.decode("+/8=") == [0xFB, 0xFF])
        #expect(Base64.decode("Zg") == Array("f".utf8))
    }

    @Test(arguments: ["Z", "Zg=a", "Zm9v!", "Zg===", "Z==="])
    func refuse(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

struct RegistryErrorTests {
    @Test(arguments: [
        (#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#, 404,
         RegistryError.Code.notFound, "MANIFEST_UNKNOWN", "manifest unknown: manifest unknown"),
        (#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"},{"code":"DENIED"}]}"#, 404,
         .notFound, "NAME_UNKNOWN", "name unknown: repository name not known to registry"),
        (#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#, 429,
         .protocolError, "TOOMANYREQUESTS", "toomanyrequests: You have reached your pull rate limit."),
        (#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#, 400,
         .invalidArgument, "MANIFEST_INVALID", "manifest invalid: manifest invalid"),
    ])
    func registryBody(body: String, status: Int, code: RegistryError.Code, registryCode: String, message: String) {
        let error = RegistryError.response(status: status, body: Array(body.utf8), operation: "Get \"x\"")
        #expect(error.code == code)
        #expect(error.registryCode == registryCode)
        #expect(error.message == message)
        #expect(error.httpStatus == status)
    }

    @Test func bodyThatIsNotARegistryError() {
        let error = RegistryError.response(status: 404, body: Array("404 page not found".utf8), operation: "Get \"u\"")
        #expect(error.code == .notFound)
        #expect(error.registryCode == nil)
        #expect(error.message == "Get \"u\": unexpected status 404 Not Found")
    }
}

struct HTTPFramingTests {
    func headers(_ fields: [(String, String)]) -> HTTPHeaders { HTTPHeaders(fields: fields.map { (name: $0.0, value: $0.1) }) }

    @Test func framing() throws {
        #expect(try HTTPClient.framing(method: "HEAD", status: 200, headers: headers([("Content-Length", "9")])).isEmpty)
        #expect(try HTTPClient.framing(method: "GET", status: 204, headers: headers([])).isEmpty)
        #expect(try HTTPClient.framing(method: "GET", status: 304, headers: headers([("Content-Length", "9")])).isEmpty)
        #expect(try HTTPClient.framing(method: "GET", status: 200, headers: headers([("Content-Length", "9")])).length == 9)
        #expect(try HTTPClient.framing(method: "GET", status: 200, headers: headers([("content-length", "9"), ("Content-Length", "9")])).length == 9)
        #expect(try HTTPClient.framing(method: "GET", status: 200, headers: headers([("Transfer-Encoding", "Chunked"), ("Content-Length", "9")])).isChunked)
        #expect(try HTTPClient.framing(method: "GET", status: 200, headers: headers([])).isUntilClose)
    }

    @Test(arguments: [[("Content-Length", "9"), ("Content-Length", "10")], [("Content-Length", "-1")],
                      [("Content-Length", "0x10")], [("Transfer-Encoding", "gzip")]])
    func badFraming(_ fields: [(String, String)]) {
        #expect(throws: RegistryError.self) { try HTTPClient.framing(method: "GET", status: 200, headers: headers(fields)) }
    }

    @Test(arguments: [("HTTP/1.1 200 OK", "HTTP/1.1", 200), ("HTTP/1.0 404", "HTTP/1.0", 404),
                      ("HTTP/1.1 307 Temporary Redirect", "HTTP/1.1", 307)])
    func statusLine(line: String, version: String, status: Int) throws {
        let parsed = try HTTPClient.parseStatusLine(Array(line.utf8))
        #expect(parsed.0 == version)
        #expect(parsed.1 == status)
    }

    @Test(arguments: ["", "HTTP/2 200", "ICY 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 abc"])
    func badStatusLine(line: String) {
        #expect(throws: RegistryError.self) { try HTTPClient.parseStatusLine(Array(line.utf8)) }
    }
}

extension HTTPBody.Framing {
    var isEmpty: Bool { if case .empty = self { return true } else { return false } }
    var isChunked: Bool { if case .chunked = self { return true } else { return false } }
    var isUntilClose: Bool { if case .untilClose = self { return true } else { return false } }
    var length: Int64? { if case .length(let n) = self { return n } else { return nil } }
}
