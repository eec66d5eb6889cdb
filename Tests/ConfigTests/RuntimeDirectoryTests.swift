import Testing
@testable import Config

#if canImport(Glibc)
import Glibc
#endif

/// `RuntimeDirectory`: the user's /run/user/UID when it is theirs, else a private directory in the
/// temporary directory, else a refusal that says what to set. The "/run/user" of these tests is a
/// directory of the test's own.
@Suite struct RuntimeDirectoryTests {
    let tree = TempTree()
    var uid: uid_t { getuid() }

    func makeDirectory(_ relative: String, mode: mode_t) -> String {
        let path = tree.root + "/" + relative
        mkdir(path, 0o700)
        chmod(path, mode)
        return path
    }

    @Test func theUsersOwnRunUserDirectoryComesFirst() throws {
        let runUser = makeDirectory("run-user", mode: 0o755)
        let own = makeDirectory("run-user/\(uid)", mode: 0o700)
        let temporary = makeDirectory("tmp", mode: 0o700)
        #expect(try RuntimeDirectory.fallback(uid: uid, temporaryDirectory: temporary, userRunRoot: runUser) == own)
        #expect(access(temporary + "/skiff-run-\(uid)", F_OK) != 0)
    }

    @Test func withoutItAPrivateDirectoryIsMadeInTheTemporaryDirectory() throws {
        let runUser = makeDirectory("run-user", mode: 0o755)
        let temporary = makeDirectory("tmp", mode: 0o700)
        let chosen = try RuntimeDirectory.fallback(uid: uid, temporaryDirectory: temporary + "/", userRunRoot: runUser)
        #expect(chosen == temporary + "/skiff-run-\(uid)")
        var info = stat()
        #expect(lstat(chosen, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o700)
        #expect(info.st_uid == uid)
        // Made once, used again.
        #expect(try RuntimeDirectory.fallback(uid: uid, temporaryDirectory: temporary, userRunRoot: runUser) == chosen)
    }

    @Test(arguments: [
        ("mode", "mode 0755, not 0700"),
        ("link", "a symbolic link"),
        ("file", "not a directory"),
    ])
    func aRunUserDirectoryThatIsNotPrivateIsPassedOver(kind: String, problem: String) throws {
        let runUser = makeDirectory("run-user", mode: 0o755)
        let path = runUser + "/\(uid)"
        switch kind {
        case "mode": _ = makeDirectory("run-user/\(uid)", mode: 0o755)
        case "link": symlink(makeDirectory("elsewhere", mode: 0o700), path)
        default: tree.write("run-user/\(uid)", "")
        }
        #expect(RuntimeDirectory.problem(path, uid: uid) == problem)
        let temporary = makeDirectory("tmp", mode: 0o700)
        #expect(try RuntimeDirectory.fallback(uid: uid, temporaryDirectory: temporary, userRunRoot: runUser)
                == temporary + "/skiff-run-\(uid)")
    }

    @Test func aPrivateDirectoryThatIsNotPrivateIsRefusedWithWhatToSet() throws {
        let runUser = makeDirectory("run-user", mode: 0o755)
        let temporary = makeDirectory("tmp", mode: 0o755)
        let taken = makeDirectory("tmp/skiff-run-\(uid)", mode: 0o777)
        do {
            let chosen = try RuntimeDirectory.fallback(uid: uid, temporaryDirectory: temporary, userRunRoot: runUser)
            Issue.record("used \(chosen)")
        } catch {
            #expect(error.description == "XDG_RUNTIME_DIR is not set, and neither \(runUser)/\(uid) (No such file or "
                    + "directory) nor \(taken) (mode 0777, not 0700) can be the runtime directory: set "
                    + "XDG_RUNTIME_DIR to a directory of your own with mode 0700")
        }
    }

    @Test func anotherUsersDirectoryIsNamedByItsOwner() {
        let path = makeDirectory("theirs", mode: 0o700)
        #expect(RuntimeDirectory.problem(path, uid: uid &+ 1) == "owned by uid \(uid)")
    }
}
