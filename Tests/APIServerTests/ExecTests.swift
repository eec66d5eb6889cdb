@testable import APIServer
import Testing

@Suite struct ExecExpiryTests {
    static let minute: Int64 = 60_000_000_000

    @Test func aRunningExecNeverExpires() {
        let expiry = ExecExpiry(ended: false, finished: 0)
        #expect(!expiry.canRemove(now: 100 * Self.minute))
        #expect(!expiry.isExpired(now: 100 * Self.minute))
    }

    @Test(arguments: [(Int64(0), false, false), (4, false, false), (5, true, false), (9, true, false), (10, true, true)])
    func anEndedExecCanBeRemovedAfterFiveMinutesAndGoesAfterTen(minutes: Int64, canRemove: Bool, expired: Bool) {
        let finished: Int64 = 1_000 * Self.minute
        let expiry = ExecExpiry(ended: true, finished: finished)
        #expect(expiry.canRemove(now: finished + minutes * Self.minute) == canRemove)
        #expect(expiry.isExpired(now: finished + minutes * Self.minute) == expired)
    }
}

@Suite struct ExecConfigTests {
    @Test func decodesWithGoRulesAndRoundTripsThroughTheStore() throws {
        let body = #"{"cmd":"sh","Env":["A=1"],"WorkingDir":"/tmp","User":"nobody","Tty":true,"Privileged":true,"#
            + #""AttachStdin":true,"AttachStdout":true,"AttachStderr":false,"DetachKeys":"ctrl-x","ConsoleSize":[24,80]}"#
        let config = try ExecConfig.decode(Array(body.utf8))
        #expect(config.cmd == ["sh"] && config.env == ["A=1"] && config.workingDir == "/tmp" && config.user == "nobody")
        #expect(config.tty && config.privileged && config.attachStdin && config.attachStdout && !config.attachStderr)
        #expect(config.detachKeys == "ctrl-x" && config.consoleSize == [24, 80])
        #expect(try ExecConfig(stored: config.json.bytes) == config)
        #expect(config.commandLine == "sh")
    }

    @Test(arguments: [
        (#"{"Cmd":["true"],"Tty":"yes"}"#,
         "invalid JSON: json: cannot unmarshal string into Go struct field ExecConfig.Tty of type bool"),
        (#"{"Cmd":[1]}"#, "invalid JSON: json: cannot unmarshal number 1 into Go struct field ExecConfig.Cmd of type string"),
        ("", "invalid JSON: got EOF while reading request body"),
    ])
    func refusals(body: String, message: String) {
        do {
            _ = try ExecConfig.decode(Array(body.utf8))
            Issue.record("decoded \(body)")
        } catch let error as EngineError {
            #expect(error.code == .invalidArgument)
            #expect(error.message == message)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func startCheckDefaultsAndDetach() throws {
        #expect(try ExecStartCheck.decode([]) == ExecStartCheck())
        #expect(try ExecStartCheck.decode(Array(#"{"Detach":true,"Tty":false}"#.utf8)).detach)
    }
}
