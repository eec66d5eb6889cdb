import MonitorProtocol
import Testing

@Suite struct ServiceMessageTests {
    static let table: [(ServiceMessage, [UInt8])] = [
        (.start, Array("start".utf8)),
        (.arguments(WarmArguments(diagnosticsPath: "/b/monitor.log", arguments: ["--id", "abc", "--tty"])),
         Array("args\0/b/monitor.log\0--id\0abc\0--tty".utf8)),
        (.arguments(WarmArguments(diagnosticsPath: "", arguments: [""])), Array("args\0\0".utf8)),
    ]

    @Test(arguments: table)
    func encodesAndDecodes(message: ServiceMessage, bytes: [UInt8]) {
        #expect(message.bytes == bytes)
        #expect(ServiceMessage(bytes: bytes) == message)
    }

    @Test(arguments: ["", "Start", "start ", "started", "args", "args\0", "args\0/only-diagnostics", "argv\0a\0b"])
    func refuses(text: String) {
        #expect(ServiceMessage(bytes: Array(text.utf8)) == nil)
    }
}

@Suite struct MonitorMessageTests {
    static let table: [(MonitorMessage, String)] = [
        (.created(pid: 42), "created 42"),
        (.started, "started"),
        (.failed(StartFailure(.exec, errno: 2, "exec: \"nope\": executable file not found in $PATH")),
         "error exec 2 exec: \"nope\": executable file not found in $PATH"),
        (.failed(StartFailure(.exec, errno: 8, "exec /bad: Exec format error")), "error exec 8 exec /bad: Exec format error"),
        (.failed(StartFailure(.mount, errno: 20, "mount /data: Not a directory")),
         "error mount 20 mount /data: Not a directory"),
        (.failed(StartFailure(.monitor, "skiff-monitor: --id is required")),
         "error monitor 0 skiff-monitor: --id is required"),
        (.failed(StartFailure(.create, errno: 17, "")), "error create 17 "),
        (.failed(StartFailure(.child, errno: 1, "set hostname: Operation not permitted")),
         "error child 1 set hostname: Operation not permitted"),
        (.failed(StartFailure(.start, "a message with  two spaces")), "error start 0 a message with  two spaces"),
    ]

    @Test(arguments: table)
    func encodesAndDecodes(message: MonitorMessage, text: String) {
        #expect(message.bytes == Array(text.utf8))
        #expect(MonitorMessage(bytes: Array(text.utf8)) == message)
    }

    @Test(arguments: ["", "begin", "created", "created x", "created -1", "created 0", "Started", "start",
                      "error", "error exec", "error exec 2", "error bogus 2 text", "error exec x text",
                      "error exec -2 text"])
    func refuses(text: String) {
        #expect(MonitorMessage(bytes: Array(text.utf8)) == nil)
    }

    @Test func everyStepHasAWireName() {
        for step in StartFailure.Step.allCases {
            let message = MonitorMessage.failed(StartFailure(step, errno: 5, "x"))
            #expect(MonitorMessage(bytes: message.bytes) == message)
            #expect(!step.rawValue.contains(" "))
        }
    }
}

@Suite struct AttachMaskTests {
    static let table: [(UInt8, AttachMask)] = [(1, .stdin), (2, .stdout), (4, .stderr), (6, [.stdout, .stderr]),
                                               (7, .all), (0, [])]

    @Test(arguments: table)
    func masks(byte: UInt8, mask: AttachMask) {
        #expect(AttachMask(byte: byte) == mask)
        #expect(mask.byte == byte)
    }

    @Test(arguments: [UInt8(8), 9, 0x80, 0xff])
    func refusesUnknownBits(byte: UInt8) {
        #expect(AttachMask(byte: byte) == nil)
    }
}

@Suite struct ControlCommandTests {
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

    @Test(arguments: [ControlCommand.resize(rows: 24, columns: 80), .resize(rows: 0, columns: 0),
                      .resize(rows: 65535, columns: 65535)])
    func linesParseBack(command: ControlCommand) {
        let line = command.line
        #expect(line.last == 0x0A)
        #expect(ControlCommand(line: String(decoding: line.dropLast(), as: UTF8.self)) == command)
    }
}

@Suite struct ExitFileTests {
    static let table: [(ExitFile, String)] = [
        (ExitFile(exitCode: 3, finishedAt: "2024-01-02T03:04:05.123Z"),
         #"{"ExitCode":3,"FinishedAt":"2024-01-02T03:04:05.123Z","OOMKilled":false}"#),
        (ExitFile(exitCode: 137, finishedAt: "2024-01-02T03:04:05Z", oomKilled: true),
         #"{"ExitCode":137,"FinishedAt":"2024-01-02T03:04:05Z","OOMKilled":true}"#),
        (ExitFile(exitCode: -1, finishedAt: ""), #"{"ExitCode":-1,"FinishedAt":"","OOMKilled":false}"#),
    ]

    @Test(arguments: table)
    func encodesAndDecodes(file: ExitFile, text: String) {
        #expect(file.bytes == Array(text.utf8))
        #expect(ExitFile(bytes: Array(text.utf8)) == file)
    }

    @Test func readsWhatAnOlderWriterLeftOut() {
        #expect(ExitFile(bytes: Array(#"{"ExitCode":1}"#.utf8)) == ExitFile(exitCode: 1, finishedAt: ""))
    }

    @Test(arguments: ["", "{}", "[1]", #"{"ExitCode":"1"}"#, #"{"ExitCode":99999999999}"#, "not json"])
    func refuses(text: String) {
        #expect(ExitFile(bytes: Array(text.utf8)) == nil)
    }

    @Test(arguments: [(Int32(3 << 8), Int32(3)), (0, 0), (9, 137), (15, 143), (255 << 8, 255)])
    func exitCodes(status: Int32, code: Int32) {
        #expect(ExitFile.exitCode(waitStatus: status) == code)
    }
}

@Suite struct ContainerPathsTests {
    @Test func layout() {
        let paths = ContainerPaths(skiffRoot: "/s", runtimeDirectory: "/r", id: "abc")
        #expect(paths.bundle == "/s/containers/abc")
        #expect(paths.run == "/r/containers/abc")
        #expect(paths.runtimeRoot == "/r/runtime")
        #expect(paths.log == "/s/containers/abc/ctr.log")
        #expect(paths.diagnostics == "/s/containers/abc/monitor.log")
        #expect(paths.exitFile == "/r/containers/abc/exit")
        #expect(paths.attachSocket == "/r/containers/abc/attach")
        #expect(paths.controlSocket == "/r/containers/abc/ctl")
    }
}
