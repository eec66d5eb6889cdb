import Platform
import Store
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

/// The decoding the run-state handlers do before their engine operation: the stop's signal and
/// timeout from the query over the container's own StopSignal and StopTimeout, and a wait's
/// condition.
struct ContainerLifecycleHandlersTests {
    static func request(_ query: [String: [String]]) -> Request {
        Request(method: "POST", path: "/containers/x/stop", version: .current, query: query, headers: [], body: [])
    }

    static func stored(stopSignal: String?, stopTimeout: Int?) throws -> StoredContainer {
        var config: [String] = []
        if let stopSignal { config.append("\"StopSignal\":\"\(stopSignal)\"") }
        if let stopTimeout { config.append("\"StopTimeout\":\(stopTimeout)") }
        let json = "{\"Config\":{\(config.joined(separator: ","))},\"HostConfig\":{}}"
        let record = ContainerRecord(id: String(repeating: "a", count: 64), name: "x", imageID: "sha256:" + String(repeating: "b", count: 64),
                                     imageName: "busybox", created: 0, state: .running, config: Array(json.utf8))
        return try StoredContainer(record)
    }

    @Test(arguments: [
        // query, the container's StopSignal and StopTimeout, the signal and timeout used
        ([:], nil, nil, SIGTERM, 10),
        ([:], "SIGINT", 3, SIGINT, 3),
        (["signal": [""], "t": [""]], "SIGINT", 3, SIGINT, 3),
        (["signal": ["SIGKILL"]], "SIGINT", nil, SIGKILL, 10),
        (["signal": ["9"], "t": ["0"]], nil, nil, SIGKILL, 0),
        (["t": ["-1"]], nil, 5, SIGTERM, -1),
        (["t": ["7"], "signal": ["HUP"]], nil, nil, SIGHUP, 7),
    ] as [([String: [String]], String?, Int?, Int32, Int)])
    func stopParametersComeFromTheQueryElseTheContainer(query: [String: [String]], stopSignal: String?, stopTimeout: Int?,
                                                        signal: Int32, timeout: Int) throws {
        let parameters = try ContainerLifecycleHandlers.stopParameters(Self.request(query),
                                                                       try Self.stored(stopSignal: stopSignal, stopTimeout: stopTimeout))
        #expect(parameters == StopParameters(signal: signal, timeout: timeout))
    }

    @Test(arguments: [
        (["signal": ["FOO"]], nil as String?, "Invalid signal: FOO"),
        ([:], "SIGNOPE", "Invalid signal: SIGNOPE"),
        (["t": ["ten"]], nil, "invalid value for t: ten"),
        (["t": ["1.5"]], nil, "invalid value for t: 1.5"),
    ] as [([String: [String]], String?, String)])
    func badStopParametersAreRefused(query: [String: [String]], stopSignal: String?, message: String) throws {
        let stored = try Self.stored(stopSignal: stopSignal, stopTimeout: nil)
        let error = #expect(throws: EngineError.self) {
            try ContainerLifecycleHandlers.stopParameters(Self.request(query), stored)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == message)
    }

    @Test func waitConditionsAreDockers() {
        #expect(WaitCondition.allCases.map(\.rawValue) == ["not-running", "next-exit", "removed"])
        #expect(WaitCondition(rawValue: "") == nil)
        #expect(WaitCondition(rawValue: "Removed") == nil)
    }

    @Test func imageRemovalsAreMobysDeleteItems() {
        #expect(ImageHandlers.item(.untagged("busybox:latest")) == .object([JSON.Member("Untagged", .string("busybox:latest"))]))
        #expect(ImageHandlers.item(.deleted("sha256:abc")) == .object([JSON.Member("Deleted", .string("sha256:abc"))]))
    }
}
