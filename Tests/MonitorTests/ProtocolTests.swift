import Monitor
import Testing

@Suite struct RestartPolicyTests {
    @Test(arguments: [
        ("no", RestartPolicy.no), ("", .no), ("always", .always), ("unless-stopped", .unlessStopped),
        ("on-failure", .onFailure(maximumRetries: 0)), ("on-failure:5", .onFailure(maximumRetries: 5)),
    ])
    func parses(text: String, policy: RestartPolicy) {
        #expect(RestartPolicy(parsing: text) == policy)
    }

    @Test(arguments: ["sometimes", "on-failure:", "on-failure:-1", "on-failure:x", "Always"])
    func refuses(text: String) {
        #expect(RestartPolicy(parsing: text) == nil)
    }

    @Test func decidesAsMobyDoes() {
        #expect(!RestartPolicy.no.shouldRestart(exitCode: 1, restarts: 0, stopRequested: false))
        #expect(RestartPolicy.always.shouldRestart(exitCode: 0, restarts: 100, stopRequested: false))
        #expect(RestartPolicy.unlessStopped.shouldRestart(exitCode: 0, restarts: 0, stopRequested: false))
        // A stop from the API ends every policy.
        #expect(!RestartPolicy.always.shouldRestart(exitCode: 137, restarts: 0, stopRequested: true))
        #expect(!RestartPolicy.unlessStopped.shouldRestart(exitCode: 1, restarts: 0, stopRequested: true))
        let twice = RestartPolicy.onFailure(maximumRetries: 2)
        #expect(!twice.shouldRestart(exitCode: 0, restarts: 0, stopRequested: false))
        #expect(twice.shouldRestart(exitCode: 1, restarts: 0, stopRequested: false))
        #expect(twice.shouldRestart(exitCode: 1, restarts: 1, stopRequested: false))
        #expect(!twice.shouldRestart(exitCode: 1, restarts: 2, stopRequested: false))
        #expect(RestartPolicy.onFailure(maximumRetries: 0).shouldRestart(exitCode: 3, restarts: 1000, stopRequested: false))
    }
}

@Suite struct RestartBackoffTests {
    @Test func doublesFrom100msUpToAMinute() {
        var backoff = RestartBackoff()
        var delays: [UInt64] = []
        for _ in 0..<12 { delays.append(backoff.next(ranFor: 1_000_000)) }
        #expect(Array(delays.prefix(4)) == [100_000_000, 200_000_000, 400_000_000, 800_000_000])
        #expect(delays[9] == 51_200_000_000)
        #expect(delays[10] == 60_000_000_000)
        #expect(delays[11] == 60_000_000_000)
    }

    @Test func resetsAfterTenSecondsUp() {
        var backoff = RestartBackoff()
        _ = backoff.next(ranFor: 0)
        _ = backoff.next(ranFor: 0)
        #expect(backoff.next(ranFor: 9_999_999_999) == 400_000_000)
        #expect(backoff.next(ranFor: 10_000_000_000) == 100_000_000)
        #expect(backoff.next(ranFor: 0) == 200_000_000)
    }
}

@Suite struct AttachProtocolTests {
    static let table: [(UInt8, AttachMask)] = [(1, .stdin), (2, .stdout), (4, .stderr), (6, [.stdout, .stderr]),
                                               (7, [.stdin, .stdout, .stderr]), (0, [])]

    @Test(arguments: table)
    func masks(byte: UInt8, mask: AttachMask) {
        #expect(AttachMask(byte: byte) == mask)
    }

    @Test(arguments: [UInt8(8), 9, 0x80, 0xff])
    func refusesUnknownBits(byte: UInt8) {
        #expect(AttachMask(byte: byte) == nil)
    }
}

@Suite struct ControlProtocolTests {
    @Test(arguments: [
        ("resize 24 80", ControlCommand?.some(.resize(rows: 24, columns: 80))),
        ("resize 24 80\r", .resize(rows: 24, columns: 80)),
        ("resize  30   100", .resize(rows: 30, columns: 100)),
        ("resize 65535 1", .resize(rows: 65535, columns: 1)),
        ("resize 65536 1", nil), ("resize 24", nil), ("resize 24 80 1", nil), ("resize -1 80", nil),
        ("resize a b", nil), ("RESIZE 24 80", nil), ("", nil), ("kill 9", nil),
    ])
    func parses(line: String, command: ControlCommand?) {
        #expect(ControlCommand(line: line) == command)
    }

    @Test func splitsLinesAcrossReads() {
        var splitter = LineSplitter(limit: 16)
        #expect(splitter.feed(Array("resize 1".utf8)) == [])
        #expect(splitter.feed(Array(" 2\nresize 3 4\nres".utf8)) == ["resize 1 2", "resize 3 4"])
        #expect(splitter.feed(Array("ize 5 6\n".utf8)) == ["resize 5 6"])
    }

    @Test func dropsAnOverlongLineWhole() {
        var splitter = LineSplitter(limit: 8)
        #expect(splitter.feed(Array("resize 1000 1000\nshort\n".utf8)) == ["short"])
        var other = LineSplitter(limit: 10)
        #expect(other.feed(Array("xxxxxxxxxxxxxxxxxxxxxxx".utf8)) == [])
        #expect(other.feed(Array("yyy\nresize 1 2\n".utf8)) == ["resize 1 2"])
    }
}

@Suite struct SyncMessageTests {
    @Test(arguments: [
        (SyncMessage.created(pid: 42), "created 42"), (.start, "start"), (.started, "started"),
        (.error("exec: \"nope\": executable file not found in $PATH"), "error exec: \"nope\": executable file not found in $PATH"),
    ])
    func roundTrips(message: SyncMessage, text: String) {
        #expect(message.text == text)
        #expect(SyncMessage(text: text) == message)
    }

    @Test(arguments: ["", "begin", "created", "created x", "created -1", "Start"])
    func refuses(text: String) {
        #expect(SyncMessage(text: text) == nil)
    }

    @Test func exitCodes() {
        #expect(exitCode(waitStatus: 3 << 8) == 3)
        #expect(exitCode(waitStatus: 0) == 0)
        #expect(exitCode(waitStatus: 9) == 137)
        #expect(exitCode(waitStatus: 15) == 143)
    }
}
