/// One D-Bus message, little-endian, as the wire carries it: a fixed header, the header fields
/// `a(yv)` (path, interface, member, error name, reply serial, destination, sender, signature),
/// padding to 8, the body.
public struct DBusMessage: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case methodCall = 1, methodReturn = 2, error = 3, signal = 4
    }

    public var kind: Kind
    public var flags: UInt8 = 0
    public var serial: UInt32 = 0
    public var path: String?
    public var interface: String?
    public var member: String?
    public var errorName: String?
    public var replySerial: UInt32?
    public var destination: String?
    public var sender: String?
    public var body: [DBusValue] = []

    public init(kind: Kind, path: String? = nil, interface: String? = nil, member: String? = nil,
                destination: String? = nil, body: [DBusValue] = []) {
        self.kind = kind
        self.path = path
        self.interface = interface
        self.member = member
        self.destination = destination
        self.body = body
    }

    public var bodySignature: String { body.map(\.signature).joined() }

    // MARK: - Encoding

    public func encoded() -> [UInt8] {
        var bodyBytes = DBusWriter()
        for value in body { bodyBytes.append(value) }
        var fields: [DBusValue] = []
        func field(_ code: UInt8, _ value: DBusValue?) {
            if let value { fields.append(.structure([.byte(code), .variant(value)])) }
        }
        field(1, path.map { .objectPath($0) })
        field(2, interface.map { .string($0) })
        field(3, member.map { .string($0) })
        field(4, errorName.map { .string($0) })
        field(5, replySerial.map { .uint32($0) })
        field(6, destination.map { .string($0) })
        field(7, sender.map { .string($0) })
        if !body.isEmpty { field(8, .signature(bodySignature)) }
        var header = DBusWriter()
        header.bytes = [UInt8(ascii: "l"), kind.rawValue, flags, 1]
        header.append(.uint32(UInt32(bodyBytes.bytes.count)))
        header.append(.uint32(serial))
        header.append(.array(element: "(yv)", fields))
        header.align(8)
        return header.bytes + bodyBytes.bytes
    }

    // MARK: - Decoding

    /// The length of the message starting `bytes` once its first 16 bytes are there (nil: fewer).
    static func length(of bytes: ArraySlice<UInt8>) throws(DBusError) -> Int? {
        guard bytes.count >= 16 else { return nil }
        let start = bytes.startIndex
        guard bytes[start] == UInt8(ascii: "l") else { throw DBusError("message: big-endian messages are not read") }
        func u32(_ at: Int) -> Int {
            (0..<4).reduce(0) { $0 | Int(bytes[start + at + $1]) << (8 * $1) }
        }
        let fields = u32(12)
        let body = u32(4)
        guard fields < 1 << 26, body < 1 << 27 else { throw DBusError("message: too long (\(fields) + \(body) bytes)") }
        return 16 + (fields + 7) / 8 * 8 + body
    }

    /// A whole message (`length(of:)` bytes).
    static func decode(_ bytes: [UInt8]) throws(DBusError) -> DBusMessage {
        guard bytes.count >= 16, let kind = Kind(rawValue: bytes[1]) else {
            throw DBusError("message: unknown type \(bytes.count > 1 ? bytes[1] : 0)")
        }
        var reader = DBusReader(bytes: bytes, offset: 4)
        let bodyLength = try reader.read("u").uint32Value ?? 0
        let serial = try reader.read("u").uint32Value ?? 0
        guard case .array(_, let fields) = try reader.read("a(yv)") else { throw DBusError("message: no header fields") }
        var message = DBusMessage(kind: kind)
        message.flags = bytes[2]
        message.serial = serial
        var signature = ""
        for case .structure(let pair) in fields {
            guard pair.count == 2, case .byte(let code) = pair[0], case .variant(let value) = pair[1] else { continue }
            switch code {
            case 1: message.path = value.stringValue
            case 2: message.interface = value.stringValue
            case 3: message.member = value.stringValue
            case 4: message.errorName = value.stringValue
            case 5: message.replySerial = value.uint32Value
            case 6: message.destination = value.stringValue
            case 7: message.sender = value.stringValue
            case 8: signature = value.stringValue ?? ""
            default: break
            }
        }
        reader.align(8)
        let bodyStart = reader.offset
        guard bodyStart + Int(bodyLength) <= bytes.count else { throw DBusError("message: body past the end") }
        var body = DBusReader(bytes: Array(bytes[bodyStart..<bodyStart + Int(bodyLength)]), offset: 0)
        var remaining = Substring(signature)
        while !remaining.isEmpty {
            let single = try DBusReader.firstType(remaining)
            message.body.append(try body.read(String(single)))
            remaining = remaining.dropFirst(single.count)
        }
        return message
    }
}

/// Marshals values, little-endian; alignment is from the start of `bytes`.
struct DBusWriter {
    var bytes: [UInt8] = []

    mutating func align(_ n: Int) {
        while bytes.count % n != 0 { bytes.append(0) }
    }

    mutating func u32(_ value: UInt32) {
        align(4)
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    mutating func u64(_ value: UInt64) {
        align(8)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    mutating func append(_ value: DBusValue) {
        switch value {
        case .byte(let b): bytes.append(b)
        case .bool(let b): u32(b ? 1 : 0)
        case .int32(let v): u32(UInt32(bitPattern: v))
        case .uint32(let v): u32(v)
        case .int64(let v): u64(UInt64(bitPattern: v))
        case .uint64(let v): u64(v)
        case .string(let s), .objectPath(let s):
            u32(UInt32(s.utf8.count))
            bytes += Array(s.utf8)
            bytes.append(0)
        case .signature(let s):
            bytes.append(UInt8(s.utf8.count))
            bytes += Array(s.utf8)
            bytes.append(0)
        case .array(let element, let values):
            u32(0)
            let lengthAt = bytes.count - 4
            align(DBusValue.alignment(of: element.utf8.first ?? 0))
            let start = bytes.count
            for v in values { append(v) }
            let length = UInt32(bytes.count - start)
            for i in 0..<4 { bytes[lengthAt + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
        case .structure(let fields):
            align(8)
            for f in fields { append(f) }
        case .variant(let inner):
            append(.signature(inner.signature))
            append(inner)
        }
    }
}

/// Unmarshals values by signature, little-endian; alignment is from the start of `bytes`.
struct DBusReader {
    var bytes: [UInt8]
    var offset: Int

    mutating func align(_ n: Int) {
        offset = (offset + n - 1) / n * n
    }

    private mutating func take(_ n: Int) throws(DBusError) -> ArraySlice<UInt8> {
        guard offset + n <= bytes.count else { throw DBusError("message: truncated at byte \(offset)") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    private mutating func u32() throws(DBusError) -> UInt32 {
        align(4)
        return try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    private mutating func u64() throws(DBusError) -> UInt64 {
        align(8)
        return try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The first complete type of a signature.
    static func firstType(_ signature: Substring) throws(DBusError) -> Substring {
        guard let first = signature.first else { throw DBusError("signature: empty") }
        switch first {
        case "a":
            let element = try firstType(signature.dropFirst())
            return signature.prefix(1 + element.count)
        case "(", "{":
            let close: Character = first == "(" ? ")" : "}"
            var rest = signature.dropFirst()
            var length = 1
            while let next = rest.first, next != close {
                let part = try firstType(rest)
                length += part.count
                rest = rest.dropFirst(part.count)
            }
            guard rest.first == close else { throw DBusError("signature \(signature): unclosed \(first)") }
            return signature.prefix(length + 1)
        default:
            return signature.prefix(1)
        }
    }

    /// One value of the single complete type `signature`.
    mutating func read(_ signature: String) throws(DBusError) -> DBusValue {
        guard let code = signature.first else { throw DBusError("signature: empty") }
        switch code {
        case "y": return .byte(try take(1).first ?? 0)
        case "b": return .bool(try u32() != 0)
        case "i": return .int32(Int32(bitPattern: try u32()))
        case "u": return .uint32(try u32())
        case "x": return .int64(Int64(bitPattern: try u64()))
        case "t": return .uint64(try u64())
        case "s", "o":
            let length = Int(try u32())
            let text = String(decoding: try take(length), as: UTF8.self)
            _ = try take(1)
            return code == "s" ? .string(text) : .objectPath(text)
        case "g":
            let length = Int(try take(1).first ?? 0)
            let text = String(decoding: try take(length), as: UTF8.self)
            _ = try take(1)
            return .signature(text)
        case "v":
            guard case .signature(let inner) = try read("g") else { throw DBusError("message: bad variant") }
            return .variant(try read(String(try DBusReader.firstType(Substring(inner)))))
        case "a":
            let element = String(signature.dropFirst())
            let length = Int(try u32())
            align(DBusValue.alignment(of: element.utf8.first ?? 0))
            let end = offset + length
            guard end <= bytes.count else { throw DBusError("message: array past the end") }
            var values: [DBusValue] = []
            while offset < end { values.append(try read(element)) }
            return .array(element: element, values)
        case "(", "{":
            align(8)
            var rest = signature.dropFirst().dropLast()
            var fields: [DBusValue] = []
            while !rest.isEmpty {
                let part = try DBusReader.firstType(rest)
                fields.append(try read(String(part)))
                rest = rest.dropFirst(part.count)
            }
            return .structure(fields)
        default:
            throw DBusError("signature \(signature): type \(code) is not read")
        }
    }
}
