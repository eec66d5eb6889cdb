import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Random bytes and the names made from them: container ids and Docker-style
/// `adjective_surname` names for containers created without one.
enum ContainerNames {
    /// `count` bytes from /dev/urandom (getrandom(2) underneath); falls back to the clock only
    /// if the device cannot be read, which a Linux system with /dev does not do.
    static func randomBytes(_ count: Int) -> [UInt8] {
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
    static func newID() -> String {
        while true {
            let hex = randomBytes(32).map { byte -> String in
                let s = String(byte, radix: 16)
                return s.count == 1 ? "0" + s : s
            }.joined()
            if !hex.prefix(12).allSatisfy(\.isNumber) { return hex }
        }
    }

    static let adjectives = [
        "agile", "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager", "fair",
        "fancy", "gentle", "glad", "happy", "hardy", "humble", "jolly", "keen", "kind", "lively", "lucid", "merry",
        "modest", "nimble", "noble", "patient", "plucky", "proud", "quick", "quiet", "rapid", "serene", "sharp",
        "sleepy", "smooth", "steady", "sunny", "swift", "tender", "tidy", "upbeat", "vivid", "warm", "wise", "witty",
        "zealous",
    ]

    static let surnames = [
        "agnesi", "babbage", "bartik", "boole", "cerf", "conway", "curie", "dijkstra", "easley", "euler", "faraday",
        "fermi", "gauss", "goldberg", "hamilton", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr",
        "lamport", "liskov", "lovelace", "maxwell", "meitner", "mirzakhani", "napier", "noether", "pascal", "perlman",
        "ritchie", "shannon", "sinoussi", "thompson", "torvalds", "turing", "volta", "wozniak", "yonath",
    ]

    /// `adjective_surname`, with a digit appended after the first try (moby's retry scheme).
    static func randomName(attempt: Int) -> String {
        let bytes = randomBytes(3)
        var name = adjectives[Int(bytes[0]) % adjectives.count] + "_" + surnames[Int(bytes[1]) % surnames.count]
        if attempt > 0 { name += String(Int(bytes[2]) % 10) }
        return name
    }

    /// A random name no container has, tried from `attempt` on (six tries); else the id's
    /// first 12 characters.
    static func freeRandomName(in store: Store, id: String, from attempt: Int = 0) throws -> String {
        for tried in attempt..<(attempt + 6) {
            let candidate = randomName(attempt: tried)
            if try store.containerName(candidate) == nil { return candidate }
        }
        return String(id.prefix(12))
    }
}
