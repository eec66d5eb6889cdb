import Glibc
import Testing
@testable import APIServer

/// Parsers and matchers of the streaming routes: detach keys, since/until times, event filters.
struct DetachKeysTests {
    @Test(arguments: [
        ("", [16, 17]),
        ("ctrl-p,ctrl-q", [16, 17]),
        ("ctrl-a", [1]),
        ("ctrl-@,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", [0, 26, 27, 28, 29, 30, 31]),
        ("a,b", [97, 98]),
        ("DEL", [127]),
        ("ctrl-x,q", [24, 113]),
    ] as [(String, [UInt8])])
    func parses(_ text: String, _ bytes: [UInt8]) throws {
        #expect(try DetachKeys(parsing: text).bytes == bytes)
    }

    @Test(arguments: ["ctrl-foo", "ctrl-P", "ab", "ctrl-a,", ",", "del", "ctrl-1", "ctrl-"])
    func refusesWhatMobyRefuses(_ text: String) {
        #expect(throws: EngineError.self) { try DetachKeys(parsing: text) }
        do {
            _ = try DetachKeys(parsing: text)
        } catch {
            #expect(APIError.from(error).status == .badRequest)
            #expect(error.message == "Invalid detach keys (\(text)) provided")
        }
    }

    @Test func matcherHoldsAPossibleStartAndReleasesIt() {
        var matcher = DetachMatcher(.default)
        #expect(matcher.feed([97, 16]) == .forward([97]))
        #expect(matcher.matched == 1)
        #expect(matcher.feed([98]) == .forward([16, 98]))
        #expect(matcher.feed([16]) == .forward([]))
        #expect(matcher.feed([17, 99]) == .detach([]))
    }

    @Test func matcherDetachesAcrossAndWithinReads() {
        var matcher = DetachMatcher(.default)
        #expect(matcher.feed(Array("ls".utf8) + [16, 17] + Array("rest".utf8)) == .detach(Array("ls".utf8)))
        var again = DetachMatcher(.default)
        // A repeated first key: the earlier one goes through, the later one may start the sequence.
        #expect(again.feed([16, 16, 17]) == .detach([16]))
    }

    @Test func singleKeyAndLongerSequences() throws {
        var one = DetachMatcher(try DetachKeys(parsing: "ctrl-x"))
        #expect(one.feed([1, 24, 2]) == .detach([1]))
        var three = DetachMatcher(try DetachKeys(parsing: "a,b,c"))
        #expect(three.feed(Array("xab".utf8)) == .forward(Array("x".utf8)))
        #expect(three.feed(Array("ab".utf8)) == .forward(Array("ab".utf8)))
        #expect(three.feed(Array("c".utf8)) == .detach([]))
    }
}

struct StreamTimeTests {
    @Test(arguments: [
        ("1700000000", 1_700_000_000, 0),
        ("1700000000.5", 1_700_000_000, 500_000_000),
        ("1700000000.000000001", 1_700_000_000, 1),
        ("1700000000.1234567891", 1_700_000_000, 123_456_789),
        ("0", 0, 0),
        ("-5", -5, 0),
        ("2024-01-02T03:04:05Z", 1_704_164_645, 0),
        ("2024-01-02T03:04:05.25Z", 1_704_164_645, 250_000_000),
        ("2024-01-02T05:04:05+02:00", 1_704_164_645, 0),
        ("2024-01-02T03:04:05.000000001Z", 1_704_164_645, 1),
    ] as [(String, Int, Int)])
    func parses(_ text: String, _ seconds: Int, _ nanos: Int) throws {
        let time = try #require(StreamTime.parse(text))
        #expect(time.tv_sec == seconds)
        #expect(time.tv_nsec == nanos)
    }

    @Test(arguments: ["", "abc", "1.", ".5", "1.x", "10m", "2024-13-02T03:04:05Z", "2024-01-02", "1e9"])
    func refuses(_ text: String) {
        #expect(StreamTime.parse(text) == nil)
    }

    @Test func untilIncludesItsInstant() {
        let next = StreamTime.nextNanosecond(timespec(tv_sec: 5, tv_nsec: 999_999_999))
        #expect(next.tv_sec == 6 && next.tv_nsec == 0)
        #expect(StreamTime.isAfter(next, timespec(tv_sec: 5, tv_nsec: 999_999_999)))
    }
}

struct EventFilterTests {
    static let container = (type: "container", action: "start", id: String(repeating: "ab", count: 32),
                            attributes: ["image": "busybox:1.36", "name": "web", "tier": "front"])
    static let image = (type: "image", action: "pull", id: "busybox:latest", attributes: ["name": "busybox"])
    static let volume = (type: "volume", action: "create", id: "data", attributes: ["driver": "local"])
    static let health = (type: "container", action: "health_status: healthy", id: String(repeating: "ab", count: 32),
                         attributes: ["image": "busybox:1.36", "name": "web"])

    /// Which of container, image, volume, health events `filters` lets through.
    static func matches(_ filters: String) throws -> [Bool] {
        let filter = try EventFilter(filters)
        return [container, image, volume, health].map {
            filter.includes(type: $0.type, action: $0.action, actorID: $0.id, attributes: $0.attributes)
        }
    }

    @Test(arguments: [
        ("", [true, true, true, true]),
        (#"{"type":["container"]}"#, [true, false, false, true]),
        (#"{"type":{"image":true}}"#, [false, true, false, false]),
        (#"{"type":["image","volume"]}"#, [false, true, true, false]),
        (#"{"event":["start"]}"#, [true, false, false, false]),
        (#"{"event":["health_status"]}"#, [false, false, false, true]),
        (#"{"container":["web"]}"#, [true, false, false, true]),
        (#"{"container":["abab"]}"#, [true, false, false, true]),
        (#"{"container":["db"]}"#, [false, false, false, false]),
        (#"{"image":["busybox"]}"#, [true, true, false, true]),
        (#"{"image":["busybox:1.36"]}"#, [true, false, false, true]),
        (#"{"image":["busybox:latest"]}"#, [false, true, false, false]),
        (#"{"label":["tier"]}"#, [true, false, false, false]),
        (#"{"label":["tier=front"]}"#, [true, false, false, false]),
        (#"{"label":["tier=back"]}"#, [false, false, false, false]),
        (#"{"volume":["da"]}"#, [false, false, true, false]),
        (#"{"scope":["local"]}"#, [true, true, true, true]),
        (#"{"scope":["swarm"]}"#, [false, false, false, false]),
        (#"{"type":["container"],"event":["start","die"]}"#, [true, false, false, false]),
        (#"{"whatever":["x"]}"#, [true, true, true, true]),
    ] as [(String, [Bool])])
    func matchesAsMoby(_ filters: String, _ expected: [Bool]) throws {
        #expect(try Self.matches(filters) == expected)
    }

    @Test(arguments: ["x", "[]", #"{"type":"container"}"#, #"{"type":[1]}"#])
    func refusesMalformedFilters(_ text: String) {
        #expect(throws: EngineError.self) { try EventFilter(text) }
    }

    @Test func stripsTags() {
        #expect(EventFilter.stripTag("busybox:latest") == "busybox")
        #expect(EventFilter.stripTag("docker.io/library/busybox:1") == "busybox")
        #expect(EventFilter.stripTag("127.0.0.1:5000/app:v2") == "127.0.0.1:5000/app")
        #expect(EventFilter.stripTag("") == "")
    }
}
