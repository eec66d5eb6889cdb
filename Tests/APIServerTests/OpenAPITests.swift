import Foundation
import Testing
import Yams
@testable import APIServer
@testable import Config

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
        let served = Set(Service.routes.map { "\($0.method) \($0.template) \($0.operationId)" })
        #expect(described == served)
        #expect(served.count == Service.routes.count, "a route is listed twice")
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

        let route = try #require(Service.routes.first { $0.template == path && $0.method == "GET" })
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
