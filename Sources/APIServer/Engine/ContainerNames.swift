import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Container ids and Docker-style `adjective_surname` names for containers created without one,
/// from `RandomID`.
enum ContainerNames {
    static func randomBytes(_ count: Int) -> [UInt8] { RandomID.bytes(count) }

    static func newID() -> String { RandomID.make() }

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
