import OCI
import Platform
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

/// Which seccomp profile a container gets when its request names none.
struct SeccompProfilesTests {
    static func scratch() -> String {
        var template = Array("/tmp/skiff-seccomp-profiles.XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    /// No seccomp.json anywhere: the built-in default, as Podman uses the one compiled into
    /// containers/common.
    @Test func withoutAnInstalledFileTheBuiltInDefaultIsUsed() throws {
        let profile = try SeccompProfiles.load(configured: "", candidates: ["/nonexistent/a.json", "/nonexistent/b.json"])
        #expect(profile == (try DefaultSeccompProfile.profile()))
    }

    @Test func theFirstInstalledFileWins() throws {
        let dir = Self.scratch()
        defer { FileSystem.removeTree(dir) }
        try FileSystem.writeAtomically(dir + "/seccomp.json", Array(#"{"defaultAction":"SCMP_ACT_LOG"}"#.utf8))
        let profile = try SeccompProfiles.load(configured: "", candidates: ["/nonexistent/a.json", dir + "/seccomp.json"])
        #expect(profile.defaultAction == .log && profile.source == dir + "/seccomp.json")
    }

    @Test func aConfiguredFileMustExist() {
        let error = #expect(throws: EngineError.self) {
            try SeccompProfiles.load(configured: "/nonexistent/seccomp.json", candidates: [])
        }
        #expect(error?.code == .internal)
        #expect(error?.message == "opening seccomp profile (/nonexistent/seccomp.json) failed: containers.conf seccomp_profile: no such file")
    }

    @Test func aProfileThatDoesNotParseIsABadRequest() {
        let error = #expect(throws: EngineError.self) {
            try SeccompProfiles.parse(Array(#"{"defaultAction":"SCMP_ACT_NOPE"}"#.utf8), source: "SecurityOpt")
        }
        #expect(error.map { APIError.from($0).status } == .badRequest)
        #expect(error?.message == #"decoding seccomp profile failed: seccomp profile SecurityOpt: defaultAction: unknown action "SCMP_ACT_NOPE""#)
    }
}
