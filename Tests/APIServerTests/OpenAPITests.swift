import Foundation
import Images
import Platform
import Testing
import Yams
@testable import APIServer
@testable import Config
@testable import Store

/// openapi.yaml and the route table describe the same API: every route is in the file with its
/// operationId, and the file has nothing the server does not serve.
struct OpenAPITests {
    static let repositoryRoot: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()

    static func document() throws -> [String: Any] {
        let text = try String(contentsOfFile: repositoryRoot + "/openapi.yaml", encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test func everyRouteIsDescribedAndNothingElse() throws {
        let paths = try #require(try Self.document()["paths"] as? [String: Any])
        var described: Set<String> = []
        for (path, item) in paths {
            let operations = try #require(item as? [String: Any])
            for (method, operation) in operations {
                let operationId = try #require((operation as? [String: Any])?["operationId"] as? String,
                                               "\(method) \(path) has no operationId")
                described.insert("\(method.uppercased()) \(path) \(operationId)")
            }
        }
        let served = Set(Routes.all.map { "\($0.method) \(Self.openAPIPath($0.template)) \($0.operationId)" })
        #expect(described == served)
        #expect(served.count == Routes.all.count, "a route is listed twice")
    }

    /// The route template as openapi.yaml writes it: `{name:.*}` (a parameter that may take
    /// several segments) is `{name}`.
    static func openAPIPath(_ template: String) -> String {
        template.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            guard segment.first == "{", segment.last == "}", let colon = segment.firstIndex(of: ":") else {
                return String(segment)
            }
            return segment[..<colon] + "}"
        }.joined(separator: "/")
    }

    @Test(arguments: [("/images/{name:.*}/json", "/images/{name}/json"), ("/images/{name:.*}", "/images/{name}"),
                      ("/images/json", "/images/json"), ("/_ping", "/_ping")])
    func routeTemplatesAreWrittenAsOpenAPIPaths(_ template: String, _ path: String) {
        #expect(Self.openAPIPath(template) == path)
    }

    static func schema(_ name: String) throws -> [String: Any] {
        let schemas = try #require((try document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        return try #require(schemas[name] as? [String: Any], "openapi.yaml has no schema \(name)")
    }

    /// `ImageSummary` as `GET /images/json` writes it has the schema's properties, `VirtualSize`
    /// only below API 1.44; the schema requires all the others.
    @Test(arguments: [43, 44])
    func imageSummaryUsesTheSchemasFieldNames(_ minor: Int) throws {
        let schema = try Self.schema("ImageSummary")
        let properties = try #require(schema["properties"] as? [String: Any])
        let required = try #require(schema["required"] as? [String])
        #expect(properties["VirtualSize"] != nil)
        #expect(Set(required) == Set(properties.keys).subtracting(["VirtualSize"]))

        let config = try ImageConfig.read(Array(#"""
            {"architecture":"amd64","os":"linux","config":{"Labels":{"b":"2","a":"1"}},
             "rootfs":{"type":"layers","diff_ids":[]}}
            """#.utf8))
        let id = "sha256:" + String(repeating: "ab", count: 32)
        let manifest = "sha256:" + String(repeating: "cd", count: 32)
        let image = ImageRecord(id: id, created: 1_700_000_000, size: 4096, config: config.bytes,
                                names: ["docker.io/library/busybox:latest"],
                                digests: ["docker.io/library/busybox@" + manifest], layers: [])
        let summary = ImageHandlers.summary(image, tags: ["busybox:latest"], config: config,
                                            version: APIVersion(major: 1, minor: minor))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.bytes)) as? [String: Any])

        var expected = Set(properties.keys)
        if minor >= 44 { expected.remove("VirtualSize") }
        #expect(Set(object.keys) == expected)
        #expect(object["Id"] as? String == id)
        #expect(object["RepoTags"] as? [String] == ["busybox:latest"])
        #expect(object["RepoDigests"] as? [String] == ["busybox@" + manifest])
        #expect(object["Labels"] as? [String: String] == ["a": "1", "b": "2"])
        #expect(object["Created"] as? Int == 1_700_000_000)
        #expect(object["Size"] as? Int == 4096)
        #expect(object["SharedSize"] as? Int == -1)
        #expect(object["Containers"] as? Int == -1)
        #expect(object["VirtualSize"] as? Int == (minor < 44 ? 4096 : nil))
    }

    /// The JSON the handlers produce uses exactly the field names the schemas list.
    @Test(arguments: [("/version", "SystemVersion"), ("/info", "SystemInfo")])
    func responsesUseTheSchemasFieldNames(_ path: String, _ schemaName: String) throws {
        let schemas = try #require((try Self.document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let schema = try #require(schemas[schemaName] as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-openapi-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let storageConf = dir + "/storage.conf"
        try "[storage]\ngraphroot = \"\(dir)/graph\"\n".write(toFile: storageConf, atomically: true, encoding: .utf8)
        var environment = ConfigEnvironment.current()
        environment.variables = ["CONTAINERS_STORAGE_CONF": storageConf, "CONTAINERS_CONF": storageConf + ".none",
                                 "XDG_RUNTIME_DIR": dir]
        environment.variables["CONTAINERS_CONF"] = nil
        environment.systemDirectories = [dir + "/nonexistent"]
        let engine = Engine(config: try ConfigLoader(environment: environment).load())

        let route = try #require(Routes.all.first { $0.template == path && $0.method == "GET" })
        let request = Request(method: "GET", path: path, version: .current, query: [:], headers: [], body: [])
        let response = try route.handler(request, engine)
        #expect(response.status == .ok)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(Set(object.keys) == Set(properties.keys))
        if path == "/info" {
            #expect(object["DockerRootDir"] as? String == dir + "/graph/skiff")
            #expect(FileManager.default.fileExists(atPath: dir + "/graph/skiff/skiff.db"))
            #expect((object["ID"] as? String)?.count == 36)
        } else {
            #expect((object["Platform"] as? [String: Any])?["Name"] as? String == "Skiff")
            #expect(object["ApiVersion"] as? String == "1.44")
        }
    }
}
