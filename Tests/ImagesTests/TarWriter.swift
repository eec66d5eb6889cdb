import CZlib
import Glibc
import Store
@testable import Images

/// A small tar writer for tests: ustar headers, GNU `L`/`K` long names, PAX `x`/`g` records,
/// and deliberately broken archives (bad checksums, truncation by slicing `bytes`).
struct TarWriter {
    enum LongNames { case gnu, pax }

    var bytes: [UInt8] = []
    var longNames: LongNames = .gnu
    var mtime = 1_700_000_000

    init(longNames: LongNames = .gnu) {
        self.longNames = longNames
    }

    mutating func file(_ name: String, _ content: String = "", mode: Int = 0o644, uid: Int = 0, gid: Int = 0,
                       pax: [(String, [UInt8])] = []) {
        entry(name, type: "0", content: Array(content.utf8), mode: mode, uid: uid, gid: gid, pax: pax)
    }

    mutating func directory(_ name: String, mode: Int = 0o755, uid: Int = 0, gid: Int = 0) {
        entry(name, type: "5", mode: mode, uid: uid, gid: gid)
    }

    mutating func symlink(_ name: String, to target: String) {
        entry(name, type: "2", link: target, mode: 0o777)
    }

    mutating func hardlink(_ name: String, to target: String) {
        entry(name, type: "1", link: target)
    }

    mutating func characterDevice(_ name: String, major: Int, minor: Int) {
        entry(name, type: "3", mode: 0o666, major: major, minor: minor)
    }

    mutating func blockDevice(_ name: String, major: Int, minor: Int) {
        entry(name, type: "4", mode: 0o660, major: major, minor: minor)
    }

    mutating func fifo(_ name: String) {
        entry(name, type: "6", mode: 0o600)
    }

    /// A PAX global header (`g`).
    mutating func globalPAX(_ records: [(String, [UInt8])]) {
        let data = TarWriter.paxRecords(records)
        header("pax_global_header", type: "g", size: data.count)
        append(data)
    }

    /// Any entry. Names and link targets over 100 bytes get a GNU `L`/`K` entry or a PAX
    /// `path`/`linkpath` record, as `longNames` says.
    mutating func entry(_ name: String, type: Character, content: [UInt8] = [], link: String = "", mode: Int = 0o644,
                        uid: Int = 0, gid: Int = 0, major: Int = 0, minor: Int = 0, pax: [(String, [UInt8])] = [],
                        corruptChecksum: Bool = false, declaredSize: Int? = nil) {
        var paxRecords = pax
        var headerName = name
        var headerLink = link
        if name.utf8.count > 100 {
            headerName = String(name.prefix(90))
            switch longNames {
            case .gnu:
                let data = Array(name.utf8) + [0]
                header("././@LongLink", type: "L", size: data.count)
                append(data)
            case .pax: paxRecords.append(("path", Array(name.utf8)))
            }
        }
        if link.utf8.count > 100 {
            headerLink = String(link.prefix(90))
            switch longNames {
            case .gnu:
                let data = Array(link.utf8) + [0]
                header("././@LongLink", type: "K", size: data.count)
                append(data)
            case .pax: paxRecords.append(("linkpath", Array(link.utf8)))
            }
        }
        if !paxRecords.isEmpty {
            let data = TarWriter.paxRecords(paxRecords)
            header("PaxHeaders/" + String(headerName.suffix(80)), type: "x", size: data.count)
            append(data)
        }
        header(headerName, type: type, size: declaredSize ?? content.count, link: headerLink, mode: mode, uid: uid,
               gid: gid, major: major, minor: minor, corruptChecksum: corruptChecksum)
        append(content)
    }

    /// The two zero blocks that end an archive.
    mutating func finish() -> [UInt8] {
        bytes += [UInt8](repeating: 0, count: 1024)
        return bytes
    }

    private mutating func append(_ data: [UInt8]) {
        bytes += data
        let pad = (512 - data.count % 512) % 512
        bytes += [UInt8](repeating: 0, count: pad)
    }

    private mutating func header(_ name: String, type: Character, size: Int, link: String = "", mode: Int = 0o644,
                                 uid: Int = 0, gid: Int = 0, major: Int = 0, minor: Int = 0,
                                 corruptChecksum: Bool = false) {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (i, c) in text.utf8.prefix(length).enumerated() { h[offset + i] = c }
        }
        func octal(_ value: Int, _ offset: Int, _ length: Int) {
            var digits = String(value, radix: 8)
            digits = String(repeating: "0", count: max(0, length - 1 - digits.count)) + digits
            put(digits, offset, length - 1)
        }
        put(name, 0, 100)
        octal(mode, 100, 8)
        octal(uid, 108, 8)
        octal(gid, 116, 8)
        octal(size, 124, 12)
        octal(mtime, 136, 12)
        h[156] = type.asciiValue!
        put(link, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        put("root", 265, 32)
        put("root", 297, 32)
        octal(major, 329, 8)
        octal(minor, 337, 8)
        for i in 148..<156 { h[i] = 0x20 }
        var sum = h.reduce(0) { $0 + Int($1) }
        if corruptChecksum { sum += 1 }
        octal(sum, 148, 7)
        h[155] = 0x20
        bytes += h
    }

    static func paxRecords(_ records: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (key, value) in records {
            let body = Array(" \(key)=".utf8) + value + [0x0a]
            var length = body.count + 1
            while String(length).utf8.count + body.count != length { length += 1 }
            out += Array(String(length).utf8) + body
        }
        return out
    }
}

/// gzip with zlib (windowBits 31), one member.
func gzip(_ data: [UInt8], level: Int32 = 6) -> [UInt8] {
    var stream = z_stream()
    precondition(skiff_deflate_init2(&stream, level, 31) == Z_OK)
    defer { deflateEnd(&stream) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(data.count))) + 64)
    var input = data
    let produced = input.withUnsafeMutableBytes { inBuffer in
        out.withUnsafeMutableBytes { outBuffer in
            stream.next_in = inBuffer.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(inBuffer.count)
            stream.next_out = outBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(outBuffer.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return outBuffer.count - Int(stream.avail_out)
        }
    }
    return Array(out[..<produced])
}

/// Everything a source yields, read in chunks of `chunk` bytes.
func drain(_ source: any ByteSource, chunk: Int = 4096) throws -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: chunk)
    while true {
        let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
        if n == 0 { return out }
        out += buffer[..<n]
    }
}

/// A unique empty directory under /tmp; removed by `removeTree`.
func makeTemporaryDirectory(_ prefix: String = "skiff-images-test") -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(path != nil, "mkdtemp failed")
    return String(cString: path!)
}

/// gzip of `count` zero bytes, one member, compressed from a 1 MiB buffer so that making a
/// bomb never holds its expanded size in memory.
func gzipZeros(count: Int) -> [UInt8] {
    var stream = z_stream()
    precondition(skiff_deflate_init2(&stream, 9, 31) == Z_OK)
    defer { deflateEnd(&stream) }
    let zeros = [UInt8](repeating: 0, count: 1 << 20)
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    var remaining = count
    repeat {
        let n = min(remaining, zeros.count)
        remaining -= n
        let flush = remaining == 0 ? Z_FINISH : Z_NO_FLUSH
        zeros.withUnsafeBytes { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(n)
            repeat {
                let produced = chunk.withUnsafeMutableBytes { output in
                    stream.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(output.count)
                    _ = deflate(&stream, flush)
                    return output.count - Int(stream.avail_out)
                }
                out += chunk[..<produced]
            } while stream.avail_out == 0 || stream.avail_in > 0
        }
    } while remaining > 0
    return out
}
