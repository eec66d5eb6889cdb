import Testing
@testable import Platform

struct PortableSHA256Tests {
    // FIPS 180-4 examples, plus lengths around the 55/56/64-byte padding boundaries.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (String(repeating: "a", count: 55), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (String(repeating: "a", count: 56), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        (String(repeating: "a", count: 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
    ])
    func knownDigests(_ message: String, _ digest: String) {
        #expect(Hex.lowercase(PortableSHA256.hash(Array(message.utf8))) == digest)
    }

    /// Fed in uneven pieces, the digest is the one of the whole.
    @Test func piecesMakeTheSameDigest() {
        let message = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var hasher = PortableSHA256()
        var offset = 0
        for size in [1, 63, 64, 65, 3, 200, 604] {
            message[offset..<offset + size].withUnsafeBytes { hasher.update($0) }
            offset += size
        }
        #expect(offset == message.count)
        let digest = hasher.finalizeBytes()
        #expect(digest == PortableSHA256.hash(message))
        #expect(Hex.lowercase(digest) == "89f4ff56a25dd1db06a4ce6033603775d705fb96f30f8693733fef602a1ca532")
    }
}
