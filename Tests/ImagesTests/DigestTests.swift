import Glibc
import Store
import Testing
@testable import Images

struct DigestTests {
    // FIPS 180-4 / NIST example vectors.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func standardVectors(_ message: String, _ expected: String) {
        #expect(Digest.sha256(of: Array(message.utf8)).encoded == expected)
    }

    @Test func oneMillionA() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(Digest.sha256(of: message).encoded == expected)
        // The same message fed in uneven chunks crosses every partial-block path.
        var hasher = SHA256()
        var offset = 0
        var step = 1
        while offset < message.count {
            let end = min(offset + step, message.count)
            message[offset..<end].withUnsafeBytes { hasher.update($0) }
            offset = end
            step = step % 131 + 7
        }
        #expect(hasher.finalize().encoded == expected)
    }

    @Test func paddingBoundaries() {
        // Lengths around the 55/56/64-byte padding edges, checked against sha256sum's values.
        let cases: [(Int, String)] = [
            (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
            (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
            (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        ]
        for (length, expected) in cases {
            #expect(Digest.sha256(of: [UInt8](repeating: UInt8(ascii: "a"), count: length)).encoded == expected)
        }
    }

    /// libcrypto (when loadable, as on this machine) and the portable Swift code agree on every
    /// length around the block edges and on chunked input.
    @Test func acceleratedAndPortableAgree() {
        let data = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 5000] {
            var fast = SHA256(), portable = SHA256(portable: true)
            var offset = 0
            var step = 1
            while offset < length {
                let end = min(length, offset + step)
                data[offset..<end].withUnsafeBytes { fast.update($0); portable.update($0) }
                offset = end
                step = step * 3 + 1
            }
            #expect(fast.finalize() == portable.finalize(), "length \(length)")
        }
    }

    @Test func throughputIsPrinted() {
        // A report, not a pass/fail timing: the figure goes in the test log.
        let chunk = [UInt8](repeating: 0x5a, count: 1 << 20)
        var hasher = SHA256()
        var start = timespec()
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        let megabytes = 64
        chunk.withUnsafeBytes { buffer in
            for _ in 0..<megabytes { hasher.update(buffer) }
        }
        _ = hasher.finalize()
        clock_gettime(CLOCK_MONOTONIC, &end)
        let seconds = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
        print("SHA256 throughput: \(Int(Double(megabytes) / seconds)) MB/s over \(megabytes) MiB")
    }

    @Test func parsesCanonicalForm() throws {
        let text = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
        let digest = try Digest(parsing: text)
        #expect(digest.algorithm == "sha256")
        #expect(digest.encoded.count == 64)
        #expect(digest.description == text)
    }

    @Test(arguments: [
        "sha256:../../x",
        "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "a", count: 63),
        "sha256:" + String(repeating: "a", count: 65),
        "sha256:" + String(repeating: "g", count: 64),
        "sha256:",
        ":abc",
        "sha256",
        "",
        "SHA256:" + String(repeating: "a", count: 64),
        "sha256:" + String(repeating: "a", count: 63) + "/",
    ])
    func rejectsInvalid(_ text: String) {
        #expect {
            try Digest(parsing: text)
        } throws: { error in
            let error = error as? ImageError
            return error?.code == .invalidArgument && error?.message == "invalid digest \"\(text)\""
        }
    }

    @Test(arguments: ["sha512:" + String(repeating: "a", count: 128), "blake3:abcd", "sha256+b64:abcd"])
    func refusesOtherAlgorithms(_ text: String) {
        let algorithm = text.split(separator: ":")[0]
        #expect {
            try Digest(parsing: text)
        } throws: { error in
            let error = error as? ImageError
            return error?.code == .invalidArgument
                && error?.message == "unsupported digest algorithm \"\(algorithm)\" in \"\(text)\""
        }
    }
}
