import Testing
@testable import APIServer

@Suite struct BuildHandlersTests {
    @Test(arguments: [
        ("https://index.docker.io/v1/", "docker.io"), ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("http://registry.local/v2/", "registry.local"), ("docker.io", "docker.io"),
    ])
    func registryHost(_ key: String, _ host: String) {
        #expect(BuildHandlers.registryHost(key) == host)
    }

    @Test(arguments: ["", "a", "ab", "abc", "{\"127.0.0.1:5000\":{\"username\":\"u\",\"password\":\"p?>\"}}"])
    func base64RoundTrip(_ text: String) {
        let encoded = BuildHandlers.base64(Array(text.utf8))
        #expect(BuildHandlers.base64Decode(encoded) == Array(text.utf8))
        // The URL-safe alphabet without padding decodes the same.
        let urlSafe = String(encoded.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 }.filter { $0 != "=" })
        #expect(BuildHandlers.base64Decode(urlSafe) == Array(text.utf8))
    }

    @Test func notBase64() {
        #expect(BuildHandlers.base64Decode("a b") == nil)
    }

    @Test(arguments: [
        ("{\"A\":\"1\",\"B\":null}", ["A": "1", "B": nil] as [String: String?]),
        ("", [:]), ("null", [:]),
    ])
    func stringMap(_ text: String, _ expected: [String: String?]) throws {
        #expect(try BuildHandlers.stringMap(text, "buildargs") == expected)
    }

    @Test func stringMapRefusesOtherValues() {
        #expect(throws: EngineError.self) { try BuildHandlers.stringMap("{\"A\":1}", "buildargs") }
        #expect(throws: EngineError.self) { try BuildHandlers.stringMap("[1]", "labels") }
    }
}
