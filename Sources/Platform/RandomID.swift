#if canImport(Glibc)
import Glibc
#endif

/// Random bytes and Docker's 64-hex ids (containers, execs, the execs of healthchecks).
public enum RandomID {
    /// `count` bytes from /dev/urandom (getrandom(2) underneath); falls back to Swift's system
    /// generator only if the device cannot be read, which a Linux system with /dev does not do.
    public static func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        var filled = 0
        if fd >= 0 {
            while filled < count {
                let n = bytes[filled...].withUnsafeMutableBytes { raw in Syscall.retrying { read(fd, raw.baseAddress, raw.count) } }
                if n <= 0 { break }
                filled += n
            }
            close(fd)
        }
        if filled < count {
            var generator = SystemRandomNumberGenerator()
            for i in filled..<count { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        }
        return bytes
    }

    /// 64 lowercase hex; never all digits in the first 12 (moby avoids ids that read as numbers).
    public static func make() -> String {
        while true {
            let hex = bytes(32).map { byte -> String in
                let s = String(byte, radix: 16)
                return s.count == 1 ? "0" + s : s
            }.joined()
            if !hex.prefix(12).allSatisfy(\.isNumber) { return hex }
        }
    }
}
