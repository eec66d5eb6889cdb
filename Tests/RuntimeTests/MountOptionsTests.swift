import Testing
@testable import Runtime

struct MountOptionsTests {
    @Test(arguments: [
        (["ro", "nosuid", "nodev", "noexec"], UInt(1 | 2 | 4 | 8)),
        (["ro", "rw"], UInt(0)),
        (["noatime", "atime", "relatime", "strictatime"], UInt((1 << 21) | (1 << 24))),
        (["nosuid", "suid", "nodev"], UInt(4)),
        (["sync", "async", "dirsync", "nosymfollow"], UInt(128 | 256)),
    ])
    func flagsSetAndClearInOrder(_ options: [String], _ flags: UInt) throws {
        #expect(try MountOptions(options).flags == flags)
    }

    @Test func bindPropagationAndData() throws {
        let options = try MountOptions(["rbind", "bind", "rslave", "mode=755", "size=65536k", "z", "defaults"])
        #expect(options.isBind && options.isRecursive)
        #expect(options.propagation == (1 << 19) | 16384)
        #expect(options.data == ["mode=755", "size=65536k"])
        #expect(try MountOptions(["bind"]).isRecursive == false)
        #expect(try MountOptions.propagation("rprivate") == (1 << 18) | 16384)
        #expect(try MountOptions.propagation(nil) == 0)
    }

    @Test func refusesWhatCannotBeAnOption() {
        #expect(throws: RuntimeError.self) { try MountOptions(["a,b"]) }
        #expect(throws: RuntimeError.self) { try MountOptions.propagation("ro") }
        do {
            _ = try MountOptions(["mode=755,uid=0"])
        } catch let error as RuntimeError {
            #expect(error.message == "invalid mount option \"mode=755,uid=0\"")
        } catch {
            Issue.record("\(error)")
        }
        do {
            _ = try MountOptions.propagation("ro")
        } catch let error as RuntimeError {
            #expect(error.message == "invalid rootfsPropagation \"ro\"")
        } catch {
            Issue.record("\(error)")
        }
    }
}
