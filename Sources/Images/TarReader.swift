
/// One member of a tar archive, with GNU long names and PAX records already applied.
public struct TarEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case regular, directory, symlink, hardlink, characterDevice, blockDevice, fifo
    }

    /// The path as written in the archive (not cleaned: `LayerApplier` does that).
    public var path: String
    public var kind: Kind
    /// Bytes of content (regular files only; 0 for every other kind).
    public var size: Int
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    public var mode: UInt32
    public var uid: Int
    public var gid: Int
    /// Modification time, seconds since the epoch, and the nanoseconds of a PAX `mtime`.
    public var mtime: Int64
    public var mtimeNanoseconds: Int32 = 0
    /// The target of a symlink or hardlink.
    public var linkTarget: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Extended attributes from PAX `SCHILY.xattr.<name>` records, in archive order.
    public var xattrs: [(name: String, value: [UInt8])]

    public static func == (a: TarEntry, b: TarEntry) -> Bool {
        a.path == b.path && a.kind == b.kind && a.size == b.size && a.mode == b.mode && a.uid == b.uid
            && a.gid == b.gid && a.mtime == b.mtime && a.mtimeNanoseconds == b.mtimeNanoseconds
            && a.linkTarget == b.linkTarget && a.deviceMajor == b.deviceMajor && a.deviceMinor == b.deviceMinor
            && a.xattrs.map(\.name) == b.xattrs.map(\.name) && a.xattrs.map(\.value) == b.xattrs.map(\.value)
    }
}

/// A streaming tar reader: ustar and GNU headers (checksums verified, octal or base-256
/// numbers), GNU `L`/`K` long names and links, PAX `x` and `g` headers (`path`, `linkpath`,
/// `size`, `uid`, `gid`, `mtime`, `SCHILY.xattr.*`). Memory is one 64 KiB buffer plus the
/// metadata of one entry (long names and PAX headers are capped at 1 MiB).
///
/// Use: `while let entry = try reader.next() { ... reader.read(into:) ... }`; content not
/// read is skipped by the next `next()`. Errors are `ImageError(.invalidArgument, ...)` naming
/// the archive offset, and a truncated archive (including one without end-of-archive blocks)
/// is always an error.
public final class TarReader {
    public static let blockSize = 512
    /// The largest GNU long name or PAX header accepted.
    public static let metadataLimit = 1 << 20

    private let source: any ByteSource
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var sourceEnded = false
    /// Bytes consumed from the archive so far.
    public private(set) var offset = 0
    /// Content bytes of the current entry not yet read, and the padding after them.
    private var remaining = 0
    private var padding = 0
    private var globalRecords: [(String, [UInt8])] = []
    private var ended = false

    public init(source: any ByteSource, bufferSize: Int = 64 << 10) {
        precondition(bufferSize >= TarReader.blockSize)
        self.source = source
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit {
        buffer.deallocate()
    }

    /// The next entry, or nil after the end-of-archive block.
    public func next() throws(ImageError) -> TarEntry? {
        guard !ended else { return nil }
        try skip(remaining + padding)
        remaining = 0
        padding = 0
        var longName: [UInt8]?
        var longLink: [UInt8]?
        var records: [(String, [UInt8])] = []
        while true {
            let headerOffset = offset
            guard let header = try readBlock() else {
                throw ImageError(.invalidArgument,
                                 "tar archive is truncated: it ends at offset \(headerOffset) without the end-of-archive block")
            }
            if header.allSatisfy({ $0 == 0 }) {
                if longName != nil || longLink != nil || !records.isEmpty {
                    throw ImageError(.invalidArgument, "tar archive ends at offset \(headerOffset) after an extended header without its entry")
                }
                ended = true
                return nil
            }
            try TarReader.verifyChecksum(header, at: headerOffset)
            let type = header[156]
            let size = try TarReader.number(header, 124, 12, field: "size", at: headerOffset)
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
                guard size <= TarReader.metadataLimit else {
                    throw ImageError(.invalidArgument, "tar extended header at offset \(headerOffset) is too large (\(size) bytes)")
                }
                let data = try readMetadata(size, at: headerOffset)
                switch type {
                case UInt8(ascii: "L"): longName = TarReader.trimNUL(data)
                case UInt8(ascii: "K"): longLink = TarReader.trimNUL(data)
                case UInt8(ascii: "x"): records += try TarReader.paxRecords(data, at: headerOffset)
                default: globalRecords += try TarReader.paxRecords(data, at: headerOffset)
                }
                continue
            default:
                break
            }
            var entry = try TarReader.entry(header, size: size, at: headerOffset)
            if let longName { entry.path = String(decoding: longName, as: UTF8.self) }
            if let longLink { entry.linkTarget = String(decoding: longLink, as: UTF8.self) }
            // Global records apply to every later entry (except the ones naming one file).
            for (key, value) in globalRecords where key != "path" && key != "linkpath" && key != "size" {
                try TarReader.apply(key, value, to: &entry, at: headerOffset)
            }
            for (key, value) in records {
                try TarReader.apply(key, value, to: &entry, at: headerOffset)
            }
            // Old tar marks directories with a trailing slash on a regular entry (checked on the
            // full name: a long name's truncated header copy may end in "/" by chance).
            if entry.kind == .regular && header[156] != UInt8(ascii: "7") && entry.path.hasSuffix("/") {
                entry.kind = .directory
            }
            if entry.kind != .regular { entry.size = 0 }
            // Header-only types carry no data blocks whatever their size field says.
            remaining = entry.kind == .regular ? entry.size : 0
            padding = (TarReader.blockSize - remaining % TarReader.blockSize) % TarReader.blockSize
            return entry
        }
    }

    /// Reads content of the current entry; 0 at its end.
    public func read(into destination: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        guard remaining > 0, destination.count > 0 else { return 0 }
        if start == end {
            guard try fill() else {
                throw ImageError(.invalidArgument, "tar archive is truncated at offset \(offset) inside an entry's content")
            }
        }
        let n = min(destination.count, remaining, end - start)
        destination.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
        start += n
        offset += n
        remaining -= n
        return n
    }

    /// Moves content of the current entry from the source straight into the file `fd` (see
    /// `ByteSource.splice`): nil while bytes wait in this reader's buffer or when the source
    /// cannot splice (then `read`); 0 at the entry's end.
    public func splice(to fd: Int32) throws(ImageError) -> Int? {
        guard remaining > 0 else { return 0 }
        guard start == end, !sourceEnded, let n = try source.splice(to: fd, count: remaining) else { return nil }
        if n == 0 {
            sourceEnded = true
            throw ImageError(.invalidArgument, "tar archive is truncated at offset \(offset) inside an entry's content")
        }
        offset += n
        remaining -= n
        return n
    }

    // MARK: - Buffered input

    private func fill() throws(ImageError) -> Bool {
        if sourceEnded { return false }
        if start == end {
            start = 0
            end = 0
        } else if start > 0 {
            (buffer.baseAddress! + 0).copyMemory(from: buffer.baseAddress! + start, byteCount: end - start)
            end -= start
            start = 0
        }
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if n == 0 {
            sourceEnded = true
            return false
        }
        end += n
        return true
    }

    /// One 512-byte block; nil at a clean end of input; an error for a partial block.
    private func readBlock() throws(ImageError) -> [UInt8]? {
        while end - start < TarReader.blockSize {
            guard try fill() else {
                if end == start { return nil }
                throw ImageError(.invalidArgument, "tar archive is truncated at offset \(offset + end - start) inside a header")
            }
        }
        let block = Array(UnsafeRawBufferPointer(rebasing: buffer[start..<(start + TarReader.blockSize)]))
        start += TarReader.blockSize
        offset += TarReader.blockSize
        return block
    }

    private func skip(_ count: Int) throws(ImageError) {
        var left = count
        while left > 0 {
            if start == end {
                guard try fill() else {
                    throw ImageError(.invalidArgument, "tar archive is truncated at offset \(offset) inside an entry's content")
                }
            }
            let n = min(left, end - start)
            start += n
            offset += n
            left -= n
        }
    }

    private func readMetadata(_ size: Int, at headerOffset: Int) throws(ImageError) -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(size)
        var left = size
        while left > 0 {
            if start == end {
                guard try fill() else {
                    throw ImageError(.invalidArgument, "tar archive is truncated at offset \(offset) inside the extended header at \(headerOffset)")
                }
            }
            let n = min(left, end - start)
            data += UnsafeRawBufferPointer(rebasing: buffer[start..<(start + n)])
            start += n
            offset += n
            left -= n
        }
        try skip((TarReader.blockSize - size % TarReader.blockSize) % TarReader.blockSize)
        return data
    }

    // MARK: - Headers

    static func verifyChecksum(_ header: [UInt8], at headerOffset: Int) throws(ImageError) {
        var unsigned = 0
        var signed = 0
        for (i, byte) in header.enumerated() {
            let b = (148..<156).contains(i) ? 0x20 : byte
            unsigned += Int(b)
            signed += Int(Int8(bitPattern: b))
        }
        let stored = try number(header, 148, 8, field: "checksum", at: headerOffset)
        guard stored == unsigned || stored == signed else {
            throw ImageError(.invalidArgument, "tar header at offset \(headerOffset) has a bad checksum (\(stored), computed \(unsigned))")
        }
    }

    static func entry(_ h: [UInt8], size: Int, at headerOffset: Int) throws(ImageError) -> TarEntry {
        let kind: TarEntry.Kind
        switch h[156] {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .regular
        case UInt8(ascii: "1"): kind = .hardlink
        case UInt8(ascii: "2"): kind = .symlink
        case UInt8(ascii: "3"): kind = .characterDevice
        case UInt8(ascii: "4"): kind = .blockDevice
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "6"): kind = .fifo
        case let other:
            let name = String(decoding: trimNUL(Array(h[0..<100])), as: UTF8.self)
            let shown = other >= 0x20 && other < 0x7f ? "'\(Character(Unicode.Scalar(other)))'" : "\(other)"
            throw ImageError(.invalidArgument, "tar entry \"\(name)\" at offset \(headerOffset) has the unsupported type \(shown)")
        }
        var path = String(decoding: trimNUL(Array(h[0..<100])), as: UTF8.self)
        // POSIX ustar ("ustar\0" + "00") keeps a prefix; GNU ("ustar  \0") uses those bytes for times.
        let isPOSIX = h[257..<263].elementsEqual(Array("ustar".utf8) + [0])
        if isPOSIX {
            let prefix = trimNUL(Array(h[345..<500]))
            if !prefix.isEmpty { path = String(decoding: prefix, as: UTF8.self) + "/" + path }
        }
        let mode = try number(h, 100, 8, field: "mode", at: headerOffset)
        let hasDevice = kind == .characterDevice || kind == .blockDevice
        let major = hasDevice ? try number(h, 329, 8, field: "devmajor", at: headerOffset) : 0
        let minor = hasDevice ? try number(h, 337, 8, field: "devminor", at: headerOffset) : 0
        guard major <= Int(UInt32.max), minor <= Int(UInt32.max) else {
            throw ImageError(.invalidArgument, "tar entry \"\(path)\" at offset \(headerOffset) has an invalid device number")
        }
        return TarEntry(
            path: path, kind: kind, size: size, mode: UInt32(truncatingIfNeeded: mode) & 0o7777,
            uid: try number(h, 108, 8, field: "uid", at: headerOffset),
            gid: try number(h, 116, 8, field: "gid", at: headerOffset),
            mtime: Int64(try number(h, 136, 12, field: "mtime", at: headerOffset)),
            linkTarget: String(decoding: trimNUL(Array(h[157..<257])), as: UTF8.self),
            deviceMajor: UInt32(major), deviceMinor: UInt32(minor), xattrs: [])
    }

    /// An octal field (spaces and NULs around it) or a GNU base-256 one (high bit set).
    static func number(_ h: [UInt8], _ offset: Int, _ length: Int, field: String, at headerOffset: Int) throws(ImageError) -> Int {
        let bytes = h[offset..<(offset + length)]
        if let first = bytes.first, first & 0x80 != 0 {
            guard first == 0x80, bytes.dropFirst().prefix(while: { $0 == 0 }).count >= length - 9 else {
                throw ImageError(.invalidArgument, "tar header at offset \(headerOffset) has an out-of-range \(field)")
            }
            var value = 0
            for byte in bytes.dropFirst() { value = value << 8 | Int(byte) }
            guard value >= 0 else { throw ImageError(.invalidArgument, "tar header at offset \(headerOffset) has an out-of-range \(field)") }
            return value
        }
        var value = 0
        var seenDigit = false
        var done = false
        for byte in bytes {
            if byte == 0x20 || byte == 0 {
                if seenDigit { done = true }
                continue
            }
            guard !done, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7"), value < (1 << 58) else {
                throw ImageError(.invalidArgument, "tar header at offset \(headerOffset) has an invalid \(field) field")
            }
            value = value * 8 + Int(byte - UInt8(ascii: "0"))
            seenDigit = true
        }
        return value
    }

    /// PAX records: "<length> <key>=<value>\n", the length counting the whole record.
    static func paxRecords(_ data: [UInt8], at headerOffset: Int) throws(ImageError) -> [(String, [UInt8])] {
        var records: [(String, [UInt8])] = []
        var i = 0
        let bad = ImageError(.invalidArgument, "tar PAX header at offset \(headerOffset) is malformed")
        while i < data.count {
            if data[i] == 0 { break }  // some writers pad with NULs
            var length = 0
            var j = i
            while j < data.count, data[j] >= UInt8(ascii: "0"), data[j] <= UInt8(ascii: "9") {
                length = length * 10 + Int(data[j] - UInt8(ascii: "0"))
                guard length <= data.count else { throw bad }
                j += 1
            }
            guard j < data.count, data[j] == 0x20, j > i, i + length <= data.count, length > j - i + 2,
                  data[i + length - 1] == 0x0a else { throw bad }
            let record = data[(j + 1)..<(i + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")), equals > record.startIndex else { throw bad }
            records.append((String(decoding: record[..<equals], as: UTF8.self), Array(record[(equals + 1)...])))
            i += length
        }
        return records
    }

    static func apply(_ key: String, _ value: [UInt8], to entry: inout TarEntry, at headerOffset: Int) throws(ImageError) {
        func decimal() throws(ImageError) -> Int {
            guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw ImageError(.invalidArgument, "tar PAX record \(key) for the entry at offset \(headerOffset) is not a valid number")
            }
            return value.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        switch key {
        case "path": entry.path = String(decoding: value, as: UTF8.self)
        case "linkpath": entry.linkTarget = String(decoding: value, as: UTF8.self)
        case "size": entry.size = try decimal()
        case "uid": entry.uid = try decimal()
        case "gid": entry.gid = try decimal()
        case "mtime":
            // "<seconds>[.<fraction>]", possibly negative.
            let negative = value.first == UInt8(ascii: "-")
            let text = negative ? Array(value.dropFirst()) : value
            let dot = text.firstIndex(of: UInt8(ascii: ".")) ?? text.count
            let whole = Array(text[..<dot])
            let fraction = dot < text.count ? Array(text[(dot + 1)...]) : []
            let isDigits = { (b: [UInt8]) in b.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
            guard !whole.isEmpty, whole.count <= 18, isDigits(whole), isDigits(fraction) else {
                throw ImageError(.invalidArgument, "tar PAX record mtime for the entry at offset \(headerOffset) is not a valid time")
            }
            let seconds = whole.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
            var nanoseconds: Int32 = 0
            for (k, digit) in fraction.prefix(9).enumerated() {
                var place: Int32 = 1
                for _ in 0..<(8 - k) { place *= 10 }
                nanoseconds += Int32(digit - UInt8(ascii: "0")) * place
            }
            entry.mtime = negative ? -seconds : seconds
            entry.mtimeNanoseconds = nanoseconds
            if negative && nanoseconds > 0 {
                entry.mtime -= 1
                entry.mtimeNanoseconds = 1_000_000_000 - nanoseconds
            }
        default:
            if key.hasPrefix("SCHILY.xattr.") {
                let name = String(key.dropFirst("SCHILY.xattr.".count))
                guard !name.isEmpty else {
                    throw ImageError(.invalidArgument, "tar PAX record \(key) for the entry at offset \(headerOffset) names no attribute")
                }
                entry.xattrs.removeAll { $0.name == name }
                entry.xattrs.append((name, value))
            } else if key.hasPrefix("GNU.sparse.") {
                throw ImageError(.invalidArgument, "tar entry at offset \(headerOffset) is a sparse file, which layers do not use")
            }
            // Other keys (atime, ctime, uname, gname, comment, charset, ...) are not needed.
        }
    }

    static func trimNUL(_ bytes: [UInt8]) -> [UInt8] {
        Array(bytes.prefix(while: { $0 != 0 }))
    }
}
