import Testing
import Platform
@testable import APIServer
@testable import Store

#if canImport(Glibc)
import Glibc
#endif

/// `GET /containers/json` answered on the event loop (`listQuick`) and on the pool (`list`):
/// the same bytes when the quick one answers, and no quick answer where it would have to wait,
/// write or read much.
struct ContainerListTests {
    static func request(_ query: [String: [String]]) -> Request {
        Request(method: "GET", path: "/containers/json", version: .current, query: query, headers: [], body: [])
    }

    static func names(_ response: Response) throws -> [String] {
        guard case .array(let entries) = try JSONParser.parse(response.body) else { return [] }
        return entries.compactMap { entry in
            if case .array(let names)? = entry["Names"], case .string(let name)? = names.first { return name }
            return nil
        }
    }

    @Test func theQuickListIsTheListWhenItAnswers() throws {
        let s = try ContainerCommitTests.Setup()
        let create = #"{"Image":"tiny","Labels":{"tier":"web"},"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#
        for name in ["one", "two", "three"] { _ = try s.engine.createContainer(try s.request(create), name: name) }
        for query in [["all": ["1"]], [:], ["all": ["1"], "limit": ["2"]], ["filters": [#"{"name":["^/t"]}"#], "all": ["true"]],
                      ["all": ["1"], "filters": [#"{"ancestor":["tiny"]}"#]]] {
            let request = ContainerListTests.request(query)
            let full = try ContainerSpecHandlers.containerList(request, s.engine)
            let quick = try #require(try ContainerSpecHandlers.containerListQuick(request, s.engine))
            #expect(quick.body == full.body, "\(query)")
            #expect(quick.status == full.status && quick.headers.map(\.0) == full.headers.map(\.0))
        }
        #expect(try ContainerListTests.names(ContainerSpecHandlers.containerList(ContainerListTests.request(["all": ["1"]]), s.engine))
                == ["/three", "/two", "/one"])
        // A bad query is the same error either way.
        let bad = ContainerListTests.request(["limit": ["x"]])
        #expect(ContainerCreateDecodingTests.message { _ = try ContainerSpecHandlers.containerListQuick(bad, s.engine) }
                == ContainerCreateDecodingTests.message { _ = try ContainerSpecHandlers.containerList(bad, s.engine) })
    }

    @Test func noQuickListWhereItWouldWaitWriteOrReadMuch() throws {
        let s = try ContainerCommitTests.Setup()
        let all = ContainerListTests.request(["all": ["1"]])
        // The Store held by another request: the event loops' own read-only connections answer,
        // the same answer as the pool's.
        let whileHeld = try s.engine.withStore { _ in try ContainerSpecHandlers.containerListQuick(all, s.engine) }
        #expect(whileHeld?.body == (try ContainerSpecHandlers.containerList(all, s.engine)).body)
        #expect(try ContainerSpecHandlers.containerListQuick(all, s.engine) != nil)
        // Sizes walk directories; label filters read the stored configs.
        #expect(try ContainerSpecHandlers.containerListQuick(ContainerListTests.request(["all": ["1"], "size": ["1"]]), s.engine) == nil)
        #expect(try ContainerSpecHandlers.containerListQuick(ContainerListTests.request(["filters": [#"{"label":["a"]}"#]]), s.engine) == nil)
        // A row whose monitor is gone: the list on the pool writes it as exited.
        let (id, _) = try s.engine.createContainer(
            try s.request(#"{"Image":"tiny","HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#), name: "gone")
        _ = try s.engine.withStore { store in
            try store.updateContainer(id) { row in
                row.state = .running
                row.monitorPID = Int32.max      // no such process
                row.startedAt = "2026-01-01T00:00:00Z"
            }
        }
        #expect(try ContainerSpecHandlers.containerListQuick(all, s.engine) == nil)
        _ = try ContainerSpecHandlers.containerList(all, s.engine)
        #expect(try s.engine.withStore { try $0.container(id: id)?.state } == .exited)
        #expect(try ContainerSpecHandlers.containerListQuick(all, s.engine) != nil)
        // More rows than a quick list reads.
        for i in 0..<ContainerSpecHandlers.quickListLimit {
            let hex = String(i + 1, radix: 16)
            var record = ContainerRecord(id: String(repeating: "0", count: 64 - hex.count) + hex, name: "many\(i)",
                                         imageID: "sha256:" + String(repeating: "1", count: 64), imageName: "tiny",
                                         created: Int64(i), state: .created, config: Array("{}".utf8))
            record.summary = Array(#""Command":"true""#.utf8)
            try s.engine.withStore { try $0.addContainer(record) }
        }
        #expect(try ContainerSpecHandlers.containerListQuick(all, s.engine) == nil)
        #expect(try ContainerListTests.names(ContainerSpecHandlers.containerList(all, s.engine)).count == ContainerSpecHandlers.quickListLimit + 1)
    }
}
