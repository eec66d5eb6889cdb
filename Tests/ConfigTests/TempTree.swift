#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory for one test, removed when the test ends.
final class TempTree {
    let root: String

    init() {
        var template = Array("/tmp/skiff-config-test.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        root = String(cString: made!)
    }

    deinit {
        _ = system("rm -rf '\(root)'")
    }

    /// Writes `text` to `root/relative`, creating directories. Returns the full path.
    @discardableResult
    func write(_ relative: String, _ text: String) -> String {
        let path = root + "/" + relative
        var dir = ""
        for part in path.split(separator: "/").dropLast() {
            dir += "/" + part
            mkdir(dir, 0o755)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0, "open \(path)")
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
        return path
    }
}
