import Glibc
import Platform

/// Something bytes are pushed into: a file descriptor, a buffer, an HTTP body.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError)
}

/// Bytes written to an open file descriptor (not closed by this type).
public final class FileByteSink: ByteSink {
    public let fd: Int32
    /// Names the file in errors.
    public let name: String

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = Syscall.retrying { Glibc.write(fd, base + offset, bytes.count - offset) }
            if n < 0 {
                throw ImageError(.io, "write \(name): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

/// Bytes collected in memory.
public final class BufferByteSink: ByteSink {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        self.bytes.append(contentsOf: bytes)
    }
}

/// A streaming ustar writer for the archives Skiff produces (`docker save`): regular files and
/// directories, names up to 100 bytes (or split into ustar's 155-byte prefix), owner root, a
/// fixed modification time. Content is streamed; the writer checks that each file gets exactly
/// the size its header declared.
public final class TarWriter {
    let sink: any ByteSink
    /// Modification time of every entry, seconds since the epoch.
    public let mtime: Int64
    /// Content bytes the current file still owes.
    var owed = 0
    var padding = 0
    var currentPath = ""

    public init(sink: any ByteSink, mtime: Int64 = 0) {
        self.sink = sink
        self.mtime = mtime
    }

    /// A directory entry (`path` without a trailing slash; one is added).
    public func directory(_ path: String, mode: UInt32 = 0o755) throws(ImageError) {
        try finishEntry()
        try header(path + "/", type: UInt8(ascii: "5"), size: 0, mode: mode)
    }

    /// A regular file whose content is in memory.
    public func file(_ path: String, _ content: [UInt8], mode: UInt32 = 0o644) throws(ImageError) {
        try beginFile(path, size: content.count, mode: mode)
        try TarWriter.withBytes(content) { (buffer) throws(ImageError) in try write(buffer) }
        try finishEntry()
    }

    /// Starts a regular file of `size` bytes; its content follows through `write`.
    public func beginFile(_ path: String, size: Int, mode: UInt32 = 0o644) throws(ImageError) {
        try finishEntry()
        try header(path, type: UInt8(ascii: "0"), size: size, mode: mode)
        currentPath = path
        owed = size
        padding = (512 - size % 512) % 512
    }

    /// Content of the current file.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        guard bytes.count <= owed else {
            throw ImageError(.invalidArgument, "tar entry \"\(currentPath)\": more content than its declared size")
        }
        try sink.write(bytes)
        owed -= bytes.count
    }

    /// Ends the archive with its two zero blocks.
    public func finish() throws(ImageError) {
        try finishEntry()
        try zeros(1024)
    }

    func finishEntry() throws(ImageError) {
        guard owed == 0 else {
            throw ImageError(.invalidArgument, "tar entry \"\(currentPath)\": \(owed) bytes of content missing")
        }
        try zeros(padding)
        padding = 0
    }

    func zeros(_ count: Int) throws(ImageError) {
        guard count > 0 else { return }
        let block = [UInt8](repeating: 0, count: count)
        try TarWriter.withBytes(block) { (buffer) throws(ImageError) in try sink.write(buffer) }
    }

    private func header(_ path: String, type: UInt8, size: Int, mode: UInt32) throws(ImageError) {
        var name = Array(path.utf8)
        var prefix: [UInt8] = []
        if name.count > 100 {
            // ustar: split at a slash so that the prefix fits 155 bytes and the name 100.
            guard let slash = name.indices.last(where: { name[$0] == UInt8(ascii: "/") && $0 <= 155 && name.count - $0 - 1 <= 100 }),
                  slash > 0 else {
                throw ImageError(.invalidArgument, "tar entry \"\(path)\": name too long")
            }
            prefix = Array(name[..<slash])
            name = Array(name[(slash + 1)...])
        }
        guard size < 1 << 33 else {
            throw ImageError(.invalidArgument, "tar entry \"\(path)\": \(size) bytes is more than ustar can record")
        }
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], _ offset: Int) {
            for (i, c) in bytes.enumerated() { h[offset + i] = c }
        }
        func octal(_ value: Int, _ offset: Int, _ length: Int) {
            let digits = Array(String(value, radix: 8).utf8)
            put([UInt8](repeating: UInt8(ascii: "0"), count: max(0, length - 1 - digits.count)) + digits, offset)
        }
        put(name, 0)
        octal(Int(mode), 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(size, 124, 12)
        octal(Int(mtime), 136, 12)
        h[156] = type
        put(Array("ustar".utf8) + [0] + Array("00".utf8), 257)
        put(Array("root".utf8), 265)
        put(Array("root".utf8), 297)
        put(prefix, 345)
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        octal(sum, 148, 7)
        h[155] = 0x20
        try TarWriter.withBytes(h) { (buffer) throws(ImageError) in try sink.write(buffer) }
    }

    /// `withUnsafeBytes` for a closure with typed throws.
    static func withBytes(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ImageError) -> Void) throws(ImageError) {
        let failure: ImageError? = bytes.withUnsafeBytes { buffer in
            do throws(ImageError) {
                try body(buffer)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}
