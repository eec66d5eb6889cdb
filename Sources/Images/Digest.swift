import CLinux
import Platform

/// A content digest, `sha256:` followed by 64 lowercase hex digits: the only form Skiff accepts,
/// so a digest is always safe to use as a file name (`blobs/sha256/<hex>`).
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The algorithm, always "sha256" today.
    public let algorithm: String
    /// The 64 lowercase hex digits.
    public let encoded: String

    /// Parses `sha256:<64 lowercase hex>`. Other well-formed algorithms (`sha512:...`) are
    /// refused as unsupported; anything else as invalid.
    public init(parsing text: String) throws(ImageError) {
        guard let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")) else {
            throw ImageError(.invalidArgument, "invalid digest \"\(text)\"")
        }
        let algorithm = Substring(text.utf8[..<colon])
        let encoded = Substring(text.utf8[text.utf8.index(after: colon)...])
        guard Digest.isWellFormedAlgorithm(algorithm), Digest.isWellFormedEncoding(encoded) else {
            throw ImageError(.invalidArgument, "invalid digest \"\(text)\"")
        }
        guard algorithm == "sha256" else {
            throw ImageError(.invalidArgument, "unsupported digest algorithm \"\(algorithm)\" in \"\(text)\"")
        }
        guard encoded.utf8.count == 64, encoded.utf8.allSatisfy(Digest.isLowerHex) else {
            throw ImageError(.invalidArgument, "invalid digest \"\(text)\"")
        }
        self.algorithm = "sha256"
        self.encoded = String(encoded)
    }

    /// A digest from the 32 bytes of a SHA-256 result.
    public init(sha256 bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes")
        self.algorithm = "sha256"
        self.encoded = Hex.lowercase(bytes)
    }

    /// The digest of `bytes`.
    public static func sha256<C: Collection>(of bytes: C) -> Digest where C.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// "sha256:<hex>"
    public var description: String { algorithm + ":" + encoded }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    private static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
    }

    /// OCI grammar: `[a-z0-9]+([+._-][a-z0-9]+)*`.
    private static func isWellFormedAlgorithm(_ s: Substring) -> Bool {
        var previousWasSeparator = true
        for c in s.utf8 {
            let isComponent = (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            if isComponent {
                previousWasSeparator = false
            } else if c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") {
                if previousWasSeparator { return false }
                previousWasSeparator = true
            } else {
                return false
            }
        }
        return !previousWasSeparator
    }

    /// OCI grammar: `[a-zA-Z0-9=_-]+`.
    private static func isWellFormedEncoding(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "=") || c == UInt8(ascii: "_")
                || c == UInt8(ascii: "-")
        }
    }
}

/// Streaming SHA-256: `update` with any number of chunks, then `finalize`. libcrypto's block
/// function when it can be loaded (SHA-NI where the CPU has it: 2 GB/s here, six times the
/// portable Swift loop, which made hashing most of a pull's and a load's CPU time), else
/// `PortableSHA256`. libcrypto is opened on first use, so a process that never hashes (the API
/// service at start-up) never maps it.
public struct SHA256: @unchecked Sendable {
    private static let accelerated = skiff_sha256_load() == 1

    private var context = skiff_sha256_ctx()
    private var portable: PortableSHA256?

    public init() {
        self.init(portable: !SHA256.accelerated)
    }

    /// `portable: true` uses the Swift implementation whatever is available (tests compare them).
    init(portable: Bool) {
        if portable {
            self.portable = PortableSHA256()
        } else {
            skiff_sha256_init(&context)
        }
    }

    /// Adds bytes to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if portable != nil {
            portable!.update(bytes)
        } else {
            skiff_sha256_update(&context, base, bytes.count)
        }
    }

    /// Adds bytes to the message.
    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update($0) }
        }
    }

    /// The digest of everything added. The hasher should not be used afterwards.
    public mutating func finalize() -> Digest {
        Digest(sha256: finalizeBytes())
    }

    /// The 32 bytes of the digest.
    public mutating func finalizeBytes() -> [UInt8] {
        if portable != nil { return portable!.finalizeBytes() }
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBufferPointer { skiff_sha256_final(&context, $0.baseAddress) }
        return out
    }
}

