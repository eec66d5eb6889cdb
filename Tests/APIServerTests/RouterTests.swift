import Testing
@testable import APIServer

struct RouterTests {
    static let router = Router(routes: [
        Route("GET", "/_ping", "SystemPing") { _, _ in Response() },
        Route("HEAD", "/_ping", "SystemPingHead") { _, _ in Response() },
        Route("GET", "/containers/{id}/json", "containerInspect") { _, _ in Response() },
        Route("GET", "/images/json", "ImageList") { _, _ in Response() },
        Route("GET", "/images/{name:.*}/json", "ImageInspect") { _, _ in Response() },
        Route("DELETE", "/images/{name:.*}", "ImageDelete") { _, _ in Response() },
    ])

    enum Outcome: Equatable, Sendable {
        case found(String, [String: String], String)
        case notFound, methodNotAllowed
        case badVersion(Int, String)
    }

    static let cases: [(String, String, Outcome)] = [
        ("GET", "/_ping", .found("SystemPing", [:], "1.44")),
        ("HEAD", "/_ping", .found("SystemPingHead", [:], "1.44")),
        ("GET", "/v1.44/_ping", .found("SystemPing", [:], "1.44")),
        ("GET", "/v1.24/_ping", .found("SystemPing", [:], "1.24")),
        ("GET", "/v1.41/containers/abc/json", .found("containerInspect", ["id": "abc"], "1.41")),
        ("GET", "/containers/a%2Fb/json", .found("containerInspect", ["id": "a/b"], "1.44")),
        ("GET", "/v1.45/_ping", .badVersion(400, "client version 1.45 is too new. Maximum supported API version is 1.44")),
        ("GET", "/v1.23/_ping", .badVersion(400, "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")),
        ("GET", "/v2.0/_ping", .badVersion(400, "client version 2.0 is too new. Maximum supported API version is 1.44")),
        ("GET", "/v1..2/_ping", .badVersion(400, "invalid API version: 1..2")),
        ("GET", "/v1.45/nope", .notFound),
        ("GET", "/nope", .notFound),
        ("GET", "/_ping/extra", .notFound),
        ("GET", "/vx/_ping", .notFound),
        ("POST", "/_ping", .methodNotAllowed),
        ("DELETE", "/v1.44/containers/x/json", .methodNotAllowed),
        // Image names have slashes: a {name:.*} segment takes one or more segments.
        ("GET", "/images/json", .found("ImageList", [:], "1.44")),
        ("GET", "/images/busybox/json", .found("ImageInspect", ["name": "busybox"], "1.44")),
        ("GET", "/v1.43/images/127.0.0.1:5000/a/b:1/json",
         .found("ImageInspect", ["name": "127.0.0.1:5000/a/b:1"], "1.43")),
        ("DELETE", "/images/127.0.0.1:5000/busybox", .found("ImageDelete", ["name": "127.0.0.1:5000/busybox"], "1.44")),
        ("DELETE", "/images/sha256%3Aabc", .found("ImageDelete", ["name": "sha256:abc"], "1.44")),
        ("GET", "/images/busybox", .methodNotAllowed),
        ("DELETE", "/images", .notFound),
        // Paths of routes without parameters, written plainly or not: the same answers.
        ("GET", "/v1.41/images/json", .found("ImageList", [:], "1.41")),
        ("GET", "/v1.45/images/json", .badVersion(400, "client version 1.45 is too new. Maximum supported API version is 1.44")),
        ("GET", "/v1..2/images/json", .badVersion(400, "invalid API version: 1..2")),
        ("GET", "/_ping/", .found("SystemPing", [:], "1.44")),
        ("GET", "//_ping", .found("SystemPing", [:], "1.44")),
        ("GET", "/v1.44//images/json", .found("ImageList", [:], "1.44")),
        ("DELETE", "/images/json", .found("ImageDelete", ["name": "json"], "1.44")),
        ("POST", "/v1.41/_ping", .methodNotAllowed),
        ("GET", "/v1.41", .notFound),
        ("GET", "_ping", .found("SystemPing", [:], "1.44")),
    ]

    @Test(arguments: cases)
    func matches(_ method: String, _ path: String, _ expected: Outcome) {
        let outcome: Outcome
        switch Self.router.match(method: method, path: path) {
        case .found(let route, let parameters, let version):
            outcome = .found(route.operationId, parameters, version.description)
        case .notFound: outcome = .notFound
        case .methodNotAllowed: outcome = .methodNotAllowed
        case .badVersion(let error): outcome = .badVersion(error.status.code, error.message)
        }
        #expect(outcome == expected)
    }

    /// The router tries only the routes a path's first segment allows, and a route whose first
    /// segment is a parameter is among them for every path, in its place in the table.
    static let openRouter = Router(routes: [
        Route("GET", "/{kind}/info", "Open") { _, _ in Response() },
        Route("GET", "/a/info", "AInfo") { _, _ in Response() },
        Route("GET", "/a/list", "AList") { _, _ in Response() },
        Route("POST", "/a/b", "AB") { _, _ in Response() },
    ])

    static let openCases: [(String, String, Outcome)] = [
        ("GET", "/a/info", .found("Open", ["kind": "a"], "1.44")),
        ("GET", "/v1.41/z/info", .found("Open", ["kind": "z"], "1.41")),
        ("GET", "/a/list", .found("AList", [:], "1.44")),
        ("POST", "/a/info", .methodNotAllowed),
        ("GET", "/a/b", .methodNotAllowed),
        ("GET", "/z/list", .notFound),
        ("GET", "/", .notFound),
        ("GET", "//a///list/", .found("AList", [:], "1.44")),
        ("GET", "/v٣/a/list", .badVersion(400, "invalid API version: ٣")),
    ]

    @Test(arguments: openCases)
    func matchesOpenFirstSegments(_ method: String, _ path: String, _ expected: Outcome) {
        let outcome: Outcome
        switch Self.openRouter.match(method: method, path: path) {
        case .found(let route, let parameters, let version):
            outcome = .found(route.operationId, parameters, version.description)
        case .notFound: outcome = .notFound
        case .methodNotAllowed: outcome = .methodNotAllowed
        case .badVersion(let error): outcome = .badVersion(error.status.code, error.message)
        }
        #expect(outcome == expected)
    }

    /// Every route of the service's table without parameters is found by its path, with and
    /// without a version prefix, as the first route in table order that takes that path.
    @Test func everyPlainRouteIsTheFirstThatTakesItsPath() {
        let router = Router(routes: Routes.all)
        for route in Routes.all where route.segments.allSatisfy({ !Route.isParameter($0) }) {
            let first = Routes.all.first { $0.method == route.method && $0.parameters(route.segments) != nil }
            for path in [route.template, "/v1.41" + route.template] {
                guard case .found(let found, let parameters, _) = router.match(method: route.method, path: path) else {
                    Issue.record("\(route.method) \(path): not found")
                    continue
                }
                #expect(found === first, "\(route.method) \(path)")
                #expect(parameters.isEmpty == (first?.segments.allSatisfy { !Route.isParameter($0) } ?? true))
            }
        }
    }

    @Test func parsesQueries() {
        let query = Router.parseQuery("all=1&filters=%7B%22a%22%3A1%7D&name=x+y&name=z&flag&bad=%zz")
        #expect(query["all"] == ["1"])
        #expect(query["filters"] == ["{\"a\":1}"])
        #expect(query["name"] == ["x y", "z"])
        #expect(query["flag"] == [""])
        #expect(query["bad"] == ["%zz"])
        let unicode = Router.parseQuery("n%C3%A9=%C3%A9t%C3%A9&é=à&&=v")
        #expect(unicode["né"] == ["été"])
        #expect(unicode["é"] == ["à"])
        #expect(unicode[""] == ["v"])
    }

    @Test(arguments: [("1.44", true), ("1.9", true), ("10.0", true), ("1", false), ("1.", false),
                      ("1.2.3", false), (".1", false), ("a.b", false), ("+1.2", false), ("1.-2", false),
                      ("99999999999999999999.1", false), ("١.٤٤", false)])
    func parsesVersions(_ text: String, _ valid: Bool) {
        #expect((APIVersion(text[...]) != nil) == valid)
    }

    @Test func comparesVersionsNumerically() {
        #expect(APIVersion("1.9")! < APIVersion("1.24")!)
        #expect(APIVersion("1.44")! > APIVersion("1.24")!)
        #expect(APIVersion("2.0")! > APIVersion.current)
    }
}
