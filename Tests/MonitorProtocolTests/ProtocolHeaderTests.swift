import CRelay
import MonitorProtocol
import Testing

/// skiff-relay (C) names the run directory and writes the exit file through skiff_protocol.h;
/// these fail when it and MonitorProtocol no longer say the same.
@Suite struct ProtocolHeaderTests {
    @Test func namesTheSameFiles() {
        #expect(SKIFF_RUN_ATTACH == ContainerPaths.attachName)
        #expect(SKIFF_RUN_CONTROL == ContainerPaths.controlName)
        #expect(SKIFF_RUN_EXIT == ContainerPaths.exitName)
        #expect(SKIFF_RUN_EXIT_TEMPORARY == ContainerPaths.exitTemporaryName)
        #expect(SKIFF_BUNDLE_LOG == ContainerPaths.logName)
    }

    @Test func buildsTheSamePaths() {
        let paths = ContainerPaths(skiffRoot: "/s", runtimeDirectory: "/r", id: "abc")
        for (name, path) in [(SKIFF_RUN_ATTACH, paths.attachSocket), (SKIFF_RUN_CONTROL, paths.controlSocket),
                             (SKIFF_RUN_EXIT, paths.exitFile)] {
            var out = [CChar](repeating: 0, count: 256)
            #expect(skiff_run_path(&out, out.count, paths.run, name) == 0)
            #expect(String(cString: out) == path)
        }
    }

    @Test func usesTheSameAttachBitsAndLineLimit() {
        #expect(UInt8(SKIFF_ATTACH_STDIN) == AttachMask.stdin.rawValue)
        #expect(UInt8(SKIFF_ATTACH_STDOUT) == AttachMask.stdout.rawValue)
        #expect(UInt8(SKIFF_ATTACH_STDERR) == AttachMask.stderr.rawValue)
        #expect(Int(SKIFF_CONTROL_LINE_LIMIT) == ControlCommand.lineLimit)
    }

    @Test(arguments: ExitFileTests.table.map(\.0))
    func writesTheSameExitFile(file: ExitFile) {
        var out = [CChar](repeating: 0, count: 256)
        let n = skiff_format_exit_file(&out, out.count, file.exitCode, file.finishedAt, file.oomKilled ? 1 : 0)
        #expect(n == Int32(file.bytes.count))
        #expect(Array(String(cString: out).utf8) == file.bytes)
    }

    @Test func refusesAnExitFileThatDoesNotFit() {
        var out = [CChar](repeating: 0, count: 16)
        #expect(skiff_format_exit_file(&out, out.count, 1, "2024-01-02T03:04:05Z", 0) == -1)
    }

    @Test(arguments: [3 << 8, 0, 9, 15, 255 << 8, 1 << 8 | 0x80] as [Int32])
    func computesTheSameExitCode(status: Int32) {
        #expect(skiff_exit_code(status) == ExitFile.exitCode(waitStatus: status))
    }

    @Test(arguments: ["resize 24 80", "resize 24 80\r", "resize  30   100", "resize 65535 1", "resize 65536 1",
                      "resize 24", "resize 24 80 1", "resize -1 80", "resize -0 80", "resize +5 80", "resize a b",
                      "RESIZE 24 80", "", "kill 9", " resize 1 2 ", "resize 1 2\r\r"])
    func readsControlLinesAlike(line: String) {
        var rows: UInt16 = 0
        var columns: UInt16 = 0
        let bytes = Array(line.utf8)
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { skiff_parse_control_line($0.baseAddress, $0.count, &rows, &columns) }
        }
        let expected = ControlCommand(line: line)
        if case .resize(let r, let c)? = expected {
            #expect(parsed == 1 && rows == r && columns == c)
        } else {
            #expect(parsed == 0)
        }
    }
}
