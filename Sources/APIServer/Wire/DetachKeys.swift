/// The key sequence that ends an attach to a TTY container without touching it (moby's
/// `detachKeys`, `ctrl-p,ctrl-q` by default): comma-separated keys, each one character (its
/// byte), `ctrl-@`, `ctrl-a` ... `ctrl-z`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_`, or
/// `DEL`; as moby/term's `ToBytes`.
struct DetachKeys: Equatable, Sendable {
    var bytes: [UInt8]

    static let `default` = DetachKeys(bytes: [16, 17])

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses a `detachKeys` value; an empty one is the default. A key moby does not know is
    /// moby's 400: `Invalid detach keys (<value>) provided`.
    init(parsing text: String) throws(EngineError) {
        guard !text.isEmpty else {
            self = .default
            return
        }
        var bytes: [UInt8] = []
        for key in text.split(separator: ",", omittingEmptySubsequences: false) {
            let utf8 = Array(key.utf8)
            if utf8.count == 1 {
                bytes.append(utf8[0])
            } else if let code = DetachKeys.control(key) {
                bytes.append(code)
            } else if key == "DEL" {
                bytes.append(127)
            } else {
                throw EngineError(.invalidArgument, "Invalid detach keys (\(text)) provided")
            }
        }
        self.bytes = bytes
    }

    /// `ctrl-a` -> 1 ... `ctrl-_` -> 31, `ctrl-@` -> 0 (the ASCII control codes in order).
    private static func control(_ key: Substring) -> UInt8? {
        let names = Array("@abcdefghijklmnopqrstuvwxyz[\\]^_".utf8)
        let utf8 = Array(key.utf8)
        guard utf8.count == 6, key.hasPrefix("ctrl-"), let index = names.firstIndex(of: utf8[5]) else { return nil }
        return UInt8(index)
    }
}

/// Finds the detach sequence in a stream of stdin bytes split anywhere, as moby's escape
/// proxy does: bytes that may start the sequence are held back until it is clear they do not;
/// the sequence itself never reaches the container.
struct DetachMatcher {
    let keys: [UInt8]
    /// How many keys of the sequence the last bytes matched (held back).
    private(set) var matched = 0

    init(_ keys: DetachKeys) {
        self.keys = keys.bytes
    }

    enum Result: Equatable {
        /// Bytes to pass on.
        case forward([UInt8])
        /// The sequence was typed: pass on these bytes (those before it), then detach.
        case detach([UInt8])
    }

    mutating func feed(_ input: some Sequence<UInt8>) -> Result {
        var out: [UInt8] = []
        guard !keys.isEmpty else { return .forward(Array(input)) }
        for byte in input {
            if byte == keys[matched] {
                matched += 1
                if matched == keys.count {
                    matched = 0
                    return .detach(out)
                }
                continue
            }
            if matched > 0 {
                // Not the sequence after all: the held keys go through, and this byte may
                // start it again.
                out += keys[0..<matched]
                matched = 0
                if byte == keys[0] {
                    matched = 1
                    if keys.count == 1 { return .detach(out) }
                    continue
                }
            }
            out.append(byte)
        }
        return .forward(out)
    }
}
