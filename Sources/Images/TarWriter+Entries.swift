import Glibc

/// Any kind of entry, with its own owner, mode, time and link target (`docker cp`, `docker
/// export`, a committed layer). Names or link targets past ustar's fields, and numbers past its
/// octal fields, go in a PAX header before the entry, as Go's archive/tar writes them.
extension TarWriter {
    /// Writes `entry`'s header; a regular file's `entry.size` bytes follow through `write`.
    public func entry(_ entry: TarEntry) throws(ImageError) {
        try finishEntry()
        let type: UInt8
        switch entry.kind {
        case .regular: type = UInt8(ascii: "0")
        case .hardlink: type = UInt8(ascii: "1")
        case .symlink: type = UInt8(ascii: "2")
        case .characterDevice: type = UInt8(ascii: "3")
        case .blockDevice: type = UInt8(ascii: "4")
        case .directory: type = UInt8(ascii: "5")
        case .fifo: type = UInt8(ascii: "6")
        }
        let size = entry.kind == .regular ? entry.size : 0
        var path = entry.path
        if entry.kind == .directory && !path.hasSuffix("/") { path += "/" }
        var records: [(String, [UInt8])] = []
        var name = Array(path.utf8)
        var prefix: [UInt8] = []
        if name.count > 100 {
            if let slash = name.indices.last(where: { name[$0] == UInt8(ascii: "/") && $0 <= 155 && name.count - $0 - 1 <= 100 && $0 < name.count - 1 }),
               slash > 0 {
                prefix = Array(name[..<slash])
                name = Array(name[(slash + 1)...])
            } else {
                records.append(("path", Array(path.utf8)))
                name = Array(name.prefix(100))
            }
        }
        var link = Array(entry.linkTarget.utf8)
        if link.count > 100 {
            records.append(("linkpath", link))
            link = Array(link.prefix(100))
        }
        let octalLimit = 0o7777777
        if entry.uid > octalLimit { records.append(("uid", Array(String(entry.uid).utf8))) }
        if entry.gid > octalLimit { records.append(("gid", Array(String(entry.gid).utf8))) }
        if size >= 1 << 33 { records.append(("size", Array(String(size).utf8))) }
        for (xattr, value) in entry.xattrs { records.append(("SCHILY.xattr." + xattr, value)) }
        if !records.isEmpty {
            var body: [UInt8] = []
            for (key, value) in records { body += TarWriter.paxRecord(key, value) }
            try sink.write(header: TarWriter.header(name: Array("PaxHeaders/".utf8 + name.prefix(89)), prefix: [],
                                                    type: UInt8(ascii: "x"), size: body.count, mode: 0o644,
                                                    uid: 0, gid: 0, mtime: entry.mtime, link: [], major: 0, minor: 0))
            try TarWriter.withBytes(body) { (buffer) throws(ImageError) in try sink.write(buffer) }
            try zeros((512 - body.count % 512) % 512)
        }
        try sink.write(header: TarWriter.header(name: name, prefix: prefix, type: type, size: size < 1 << 33 ? size : 0,
                                                mode: entry.mode, uid: min(entry.uid, octalLimit), gid: min(entry.gid, octalLimit),
                                                mtime: entry.mtime, link: link,
                                                major: Int(entry.deviceMajor), minor: Int(entry.deviceMinor)))
        currentPath = entry.path
        owed = size
        padding = (512 - size % 512) % 512
    }

    /// Content the current file still owes, as zeros (a file that shrank while it was read).
    public func padOwed() throws(ImageError) {
        let block = [UInt8](repeating: 0, count: 64 << 10)
        while owed > 0 {
            let n = min(owed, block.count)
            try TarWriter.withBytes(Array(block[0..<n])) { (buffer) throws(ImageError) in try write(buffer) }
        }
    }

    /// How many content bytes the current file still owes.
    public var remainingContent: Int { owed }

    /// "<length> <key>=<value>\n", the length counting itself.
    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let rest = 1 + key.utf8.count + 1 + value.count + 1
        var length = rest + String(rest).utf8.count
        if String(length).utf8.count != String(rest).utf8.count { length = rest + String(length).utf8.count }
        return Array("\(length) \(key)=".utf8) + value + [0x0A]
    }

    /// One ustar header block.
    static func header(name: [UInt8], prefix: [UInt8], type: UInt8, size: Int, mode: UInt32, uid: Int, gid: Int,
                       mtime: Int64, link: [UInt8], major: Int, minor: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], _ offset: Int, _ length: Int) {
            for (i, c) in bytes.prefix(length).enumerated() { h[offset + i] = c }
        }
        func octal(_ value: Int, _ offset: Int, _ length: Int) {
            let digits = Array(String(max(0, value), radix: 8).utf8)
            put([UInt8](repeating: UInt8(ascii: "0"), count: max(0, length - 1 - digits.count)) + digits, offset, length - 1)
        }
        put(name, 0, 100)
        octal(Int(mode & 0o7777), 100, 8)
        octal(uid, 108, 8)
        octal(gid, 116, 8)
        octal(size, 124, 12)
        octal(Int(max(0, min(mtime, 0o77777777777))), 136, 12)
        h[156] = type
        put(link, 157, 100)
        put(Array("ustar".utf8) + [0] + Array("00".utf8), 257, 8)
        if type == UInt8(ascii: "3") || type == UInt8(ascii: "4") {
            octal(major, 329, 8)
            octal(minor, 337, 8)
        }
        put(prefix, 345, 155)
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        octal(sum, 148, 7)
        h[155] = 0x20
        return h
    }
}

extension ByteSink {
    func write(header: [UInt8]) throws(ImageError) {
        try TarWriter.withBytes(header) { (buffer) throws(ImageError) in try write(buffer) }
    }
}
