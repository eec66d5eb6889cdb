import Testing
@testable import APIServer

/// `DriverOpts` as moby's local driver validates them, and the mount each makes.
@Suite struct LocalVolumeOptionsTests {
    @Test(arguments: [
        (["foo": "bar"], "invalid option: \"foo\""),
        (["type": "tmpfs"], "missing required option: \"device\""),
        (["device": "/x"], "missing required option: \"type\""),
        (["o": "bind"], "missing required option: \"device\""),
        (["o": "bind", "device": "/x"], "missing required option: \"type\""),
        (["size": "10m"], "quota size requested but no quota support"),
        (["size": "ten"], "invalid size: 'ten'"),
    ])
    func refusals(_ given: [String: String], _ message: String) {
        do {
            _ = try LocalVolumeOptions(given)
            Issue.record("accepted \(given)")
        } catch let error as EngineError {
            #expect(error.code == .invalidArgument)
            #expect(error.message == message)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func tmpfsAndBindMounts() throws {
        let tmpfs = try LocalVolumeOptions(["type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=5"])
        #expect(tmpfs.needsMount)
        let mount = try tmpfs.specMount(destination: "/t", readOnly: true, mountpoint: "/v/_data")
        #expect(mount.type == "tmpfs" && mount.source == "tmpfs" && mount.options == ["size=1m", "uid=5", "ro"])
        let bind = try LocalVolumeOptions(["type": "none", "o": "bind", "device": "/"])
        let bound = try bind.specMount(destination: "/b", readOnly: false, mountpoint: "/v/_data")
        #expect(bound.type == "bind" && bound.source == "/" && bound.options == ["bind", "rprivate"])
        #expect(try !LocalVolumeOptions([:]).needsMount)
        #expect(try LocalVolumeOptions(["size": "0"]) == LocalVolumeOptions([:]))
    }

    @Test func aMissingBindDeviceFailsWithDockersMountError() throws {
        let bind = try LocalVolumeOptions(["type": "none", "o": "bind", "device": "/nonexistent/dir"])
        #expect(throws: EngineError.self) { try bind.specMount(destination: "/b", readOnly: false, mountpoint: "/v/_data") }
        do {
            _ = try bind.specMount(destination: "/b", readOnly: false, mountpoint: "/v/_data")
        } catch let error as EngineError {
            #expect(error.message == "error while mounting volume '/v/_data': failed to mount local volume: "
                    + "mount /nonexistent/dir:/v/_data, flags: 0x1000: no such file or directory")
        }
    }

    @Test(arguments: [("10m", Int64(10 << 20)), ("1g", Int64(1 << 30)), ("512", Int64(512)), ("2KiB", Int64(2048)), ("x", nil)])
    func ramInBytes(_ text: String, _ bytes: Int64?) {
        #expect(LocalVolumeOptions.ramInBytes(text) == bytes)
    }

    @Test(arguments: [("vol", "vol", true), ("^v.l$", "vol", true), ("alp", "alpha", true), ("^a$", "alpha", false),
                      ("(", "(", true), ("(", "x(", false)])
    func nameFilterIsTheValueOrARegularExpression(_ pattern: String, _ name: String, _ matches: Bool) {
        #expect(VolumeHandlers.nameMatches(pattern, name) == matches)
    }
}
