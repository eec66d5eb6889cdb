import OCI
import Platform
import Testing
@testable import Runtime

#if canImport(Glibc)
import Glibc
#endif

struct SeccompCacheTests {
    func tempDir() -> String {
        var template = Array("/tmp/skiff-seccomp-cache.XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        return path
    }

    @Test func aCompiledProgramIsStoredThenReadBackUnchanged() throws {
        let dir = tempDir()
        defer { FileSystem.removeTree(dir) }
        let profile = Array(#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}"#.utf8)
        var compiles = 0
        let compile = { () throws -> Seccomp.Program in
            compiles += 1
            return try Seccomp.compileDefault(capabilities: ["CAP_CHOWN"])
        }
        let first = try SeccompCache.program(profileJSON: profile, capabilities: 1, directory: dir, compile: compile)
        let second = try SeccompCache.program(profileJSON: profile, capabilities: 1, directory: dir, compile: compile)
        #expect(compiles == 1)
        #expect(first == second)
        // Another capability set is another program.
        _ = try SeccompCache.program(profileJSON: profile, capabilities: 3, directory: dir, compile: compile)
        #expect(compiles == 2)
        #expect(FileSystem.directoryEntries(dir)?.filter { $0.hasSuffix(".bpf") }.count == 2)
    }

    @Test func aDamagedFileIsIgnoredAndReplaced() throws {
        let dir = tempDir()
        defer { FileSystem.removeTree(dir) }
        let profile = Array(#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.utf8)
        var compiles = 0
        let compile = { () throws -> Seccomp.Program in
            compiles += 1
            return try Seccomp.compileDefault(capabilities: [])
        }
        let program = try SeccompCache.program(profileJSON: profile, capabilities: 0, directory: dir, compile: compile)
        let file = dir + "/" + (FileSystem.directoryEntries(dir)?.first { $0.hasSuffix(".bpf") } ?? "")
        var bytes = try FileSystem.readFile(file)
        bytes[bytes.count - 1] ^= 0xFF   // one flipped bit in the program
        try FileSystem.writeAtomically(file, bytes)
        #expect(SeccompCache.read(file) == nil)
        let again = try SeccompCache.program(profileJSON: profile, capabilities: 0, directory: dir, compile: compile)
        #expect(compiles == 2)
        #expect(again == program)
        #expect(SeccompCache.read(file) == program)
    }
}
