import CLinux
import Dockerfile
import Images
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The build context of `docker build`: the request's tar (plain, gzip or zstd; bzip2 and xz are
/// refused by name) read once and indexed (`TarIndex`), never unpacked: the entries
/// `LayerApplier`'s copy mode refuses are refused the same way, the content of a plain tar is
/// read again from the spooled body itself (a compressed one's is copied to one file first),
/// `.dockerignore` is read from it, and the sources of COPY and ADD are resolved in the index
/// as `ScopedRoot` resolves them on disk (a symlink that points out of the context lands inside
/// it, as moby's `FollowSymlinkInScope`), checksummed and written as a tar from it. A fully
/// cached build then reads each file once and writes none.
final class BuildContext {
    let index: TarIndex
    let ignore: DockerIgnore
    /// The body, and the copy of a compressed one's content: kept while the index is used.
    private let body: SpooledBody
    private let copy: SpooledBody?

    /// Indexes `body`; `spool` makes an unnamed file for a compressed context's content.
    init(body: SpooledBody, limit: Int, spool: () throws -> SpooledBody) throws {
        self.body = body
        var magic = [UInt8](repeating: 0, count: 6)
        let n = pread(body.fd, &magic, 6, 0)
        magic = Array(magic.prefix(max(0, n)))
        if magic.starts(with: [0x42, 0x5A, 0x68]) {
            throw EngineError(.invalidArgument, "the build context is bzip2-compressed: send it plain, gzip or zstd")
        }
        if magic.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            throw EngineError(.invalidArgument, "the build context is xz-compressed: send it plain, gzip or zstd")
        }
        let compression = LayerStream.sniff(magic)
        var isCompressed = true
        if case .none = compression { isCompressed = false }
        let copy: SpooledBody? = try body.size > 0 && isCompressed ? spool() : nil
        self.copy = copy
        let index: TarIndex
        if body.size > 0 {
            do {
                lseek(body.fd, 0, SEEK_SET)
                let source = try LayerStream.decompressed(FileByteSource(fd: body.fd, name: "the build context"),
                                                          compression, limit: limit)
                index = try TarIndex(TarReader(source: source), archiveFD: body.fd, copyTo: copy?.fd)
            } catch {
                throw EngineError(error.code == .io ? .internal : .invalidArgument, "Error processing tar file: \(error.message)")
            }
        } else {
            index = TarIndex(empty: body.fd)
        }
        self.index = index
        if let bytes = try? BuildContext.readFile(index, ".dockerignore") {
            do {
                ignore = try DockerIgnore(String(decoding: bytes, as: UTF8.self))
            } catch {
                throw EngineError(.invalidArgument, "error processing .dockerignore: \(error.message)")
            }
        } else {
            ignore = DockerIgnore()
        }
    }

    /// A regular file of the context (the Dockerfile, .dockerignore), resolved inside it.
    func readFile(_ path: String) throws -> [UInt8] { try BuildContext.readFile(index, path) }

    static func readFile(_ index: TarIndex, _ path: String, limit: Int = 4 << 20) throws -> [UInt8] {
        let resolved = try index.resolve("/" + path, followLast: true)
        guard let node = index.node(resolved), node.kind == .regular else {
            throw EngineError(.invalidArgument, "\(path) is not a regular file")
        }
        guard node.size <= limit else { throw EngineError(.invalidArgument, "\(path) is larger than \(limit >> 20) MiB") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(node.size)
        try index.withContent(node, name: path) { bytes += $0 }
        return bytes
    }

    /// One source of a COPY or ADD, found in the context.
    struct Source {
        /// Its path in the context, cleaned, relative (`dir/a.txt`; `.` for the root).
        var path: String
        var isDirectory: Bool
        /// A here-document's content (`path` is then its name): written as a regular file.
        var inline: [UInt8]? = nil
    }

    /// The context paths `pattern` names (a path or a glob, cleaned as moby cleans it); refuses
    /// one outside the context and answers none found with Docker's message.
    func sources(_ pattern: String, keyword: String) throws -> [Source] {
        let cleaned = DockerIgnore.clean(pattern.hasPrefix("/") ? String(pattern.drop { $0 == "/" }) : pattern)
        if cleaned == ".." || cleaned.hasPrefix("../") {
            throw EngineError(.invalidArgument, "\(keyword) failed: forbidden path outside the build context: \(pattern) ()")
        }
        let notFound = EngineError(.invalidArgument,
                                   "\(keyword) failed: file not found in build context or excluded by .dockerignore: stat \(pattern): file does not exist")
        let compiled: PathPattern
        do { compiled = try PathPattern(cleaned) } catch {
            throw EngineError(.invalidArgument, "\(keyword) failed: \(error.message): \(pattern)")
        }
        if !compiled.hasWildcards {
            if cleaned != "." && ignore.excludes(cleaned) { throw notFound }
            guard let info = try lstatResolved(cleaned) else { throw notFound }
            return [Source(path: cleaned, isDirectory: info.kind == .directory)]
        }
        var found: [Source] = []
        try walk("", depth: cleaned.split(separator: "/").count) { path, info in
            if compiled.matches(path) && !ignore.excludes(path) {
                found.append(Source(path: path, isDirectory: info.kind == .directory))
            }
        }
        guard !found.isEmpty else {
            throw EngineError(.invalidArgument, "\(keyword) failed: no source files were specified")
        }
        return found
    }

    /// The node of `path` with every symlink followed inside the context; nil when missing.
    func lstatResolved(_ path: String) throws(ImageError) -> TarIndex.Node? {
        do {
            return index.node(try index.resolve("/" + path, followLast: true))
        } catch where error.code == .notFound {
            return nil
        }
    }

    /// Calls `body` for every path down to `depth` components, in name order.
    private func walk(_ prefix: String, depth: Int, _ body: (String, TarIndex.Node) throws -> Void) throws {
        guard depth > 0 else { return }
        let directory = try index.resolve("/" + prefix, followLast: true)
        guard let node = index.node(directory), node.kind == .directory else {
            throw ImageError(.notFound, "open /\(prefix): \(String(cString: strerror(ENOTDIR)))")
        }
        for name in index.names(directory) {
            guard let info = index.node(directory.isEmpty ? name : directory + "/" + name) else { continue }
            let path = prefix.isEmpty ? name : prefix + "/" + name
            try body(path, info)
            if info.kind == .directory { try walk(path, depth: depth - 1, body) }
        }
    }

    /// What a COPY adds, written as a tar to `fd`: each source under `name` (a directory's
    /// contents under `name`, which is then "" for the extraction point itself), `.dockerignore`d
    /// paths left out, every mode replaced by `mode` when given. Returns a checksum of names,
    /// modes, sizes and contents (the cache key of the step). Without `fd` nothing is written:
    /// the checksum alone, to look the step up in the cache before writing anything.
    func write(_ items: [(source: Source, name: String)], mode: UInt32?, to fd: Int32?) throws -> String {
        let writer = fd.map { TarWriter(sink: FileByteSink(fd: $0, name: "the step's archive")) }
        var hasher = SHA256()
        func add(_ relative: String, as name: String, followLast: Bool) throws {
            let resolved = try index.resolve("/" + relative, followLast: followLast)
            guard let info = index.node(resolved) else {
                throw ImageError(.notFound, "lstat /\(resolved): \(String(cString: strerror(ENOENT)))")
            }
            var entry = TarEntry(path: name, kind: .regular, size: 0, mode: mode ?? info.mode,
                                 uid: 0, gid: 0, mtime: info.mtime, linkTarget: "",
                                 deviceMajor: 0, deviceMinor: 0, xattrs: [])
            switch info.kind {
            case .directory:
                entry.kind = .directory
                if !name.isEmpty { try writer?.entry(entry) }
                hasher.update(Array("d \(name) \(entry.mode)\n".utf8))
                for child in index.names(resolved) {
                    let childRelative = relative == "." || relative.isEmpty ? child : relative + "/" + child
                    if ignore.excludes(childRelative) { continue }
                    try add(childRelative, as: name.isEmpty ? child : name + "/" + child, followLast: false)
                }
            case .symlink:
                entry.kind = .symlink
                entry.mode = info.mode
                entry.linkTarget = info.linkTarget
                try writer?.entry(entry)
                hasher.update(Array("l \(name) \(entry.linkTarget)\n".utf8))
            case .regular:
                entry.size = info.size
                try writer?.entry(entry)
                hasher.update(Array("f \(name) \(entry.mode) \(entry.size)\n".utf8))
                try index.withContent(info, name: relative) { chunk in
                    hasher.update(chunk)
                    try writer?.write(chunk)
                }
            case .other:
                // Devices, fifos and sockets of a context are not copied (moby's tar of the
                // context keeps them; a rootless build could not make them).
                return
            }
        }
        for (source, name) in items {
            if let data = source.inline {
                let entry = TarEntry(path: name, kind: .regular, size: data.count, mode: mode ?? 0o644, uid: 0, gid: 0,
                                     mtime: 0, linkTarget: "", deviceMajor: 0, deviceMinor: 0, xattrs: [])
                try writer?.entry(entry)
                hasher.update(Array("f \(name) \(entry.mode) \(entry.size)\n".utf8))
                hasher.update(data)
                if let writer { try data.withUnsafeBytes { try writer.write($0) } }
                continue
            }
            try add(source.path, as: name, followLast: true)
        }
        try writer?.finish()
        return hasher.finalize().description
    }
}

extension BuildContext {
    /// Whether ADD unpacks the context file at `path`: a tar, plain or compressed with gzip or
    /// zstd. bzip2 and xz archives are refused by name (nothing here decompresses them).
    func isArchive(_ path: String) throws -> Bool {
        guard let node = try lstatResolved(path), node.kind == .regular else { return false }
        var head = [UInt8](repeating: 0, count: min(node.size, 512))
        let n = pread(index.contentFD, &head, head.count, off_t(node.offset))
        head = Array(head.prefix(max(0, n)))
        if head.starts(with: [0x42, 0x5A, 0x68]) || head.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            throw EngineError(.invalidArgument, "ADD failed: \(path) is a bzip2 or xz archive: only plain, gzip and zstd tar archives are unpacked")
        }
        switch LayerStream.sniff(head) {
        case .gzip, .zstd:
            return true
        case .none:
            return head.count >= 262 && Array(head[257..<262]) == Array("ustar".utf8)
        }
    }

    /// The sha256 of a context file (an archive ADD unpacks: part of the step's cache key).
    func checksum(_ path: String) throws -> String {
        let node = try regularFile(path)
        var hasher = SHA256()
        try index.withContent(node, name: path) { hasher.update($0) }
        return hasher.finalize().description
    }

    /// A context file's content in an unnamed file of `spool`'s, at its start (an archive ADD
    /// unpacks, given to the worker as its input).
    func open(_ path: String, spool: () throws -> SpooledBody) throws -> SpooledBody {
        let node = try regularFile(path)
        let file = try spool()
        let sink = FileByteSink(fd: file.fd, name: "the context's \(path)")
        try index.withContent(node, name: path) { try sink.write($0) }
        lseek(file.fd, 0, SEEK_SET)
        return file
    }

    /// The node of a regular file of the context (symlinks followed inside it).
    private func regularFile(_ path: String) throws -> TarIndex.Node {
        let resolved = try index.resolve("/" + path, followLast: true)
        guard let node = index.node(resolved), node.kind == .regular else {
            throw ImageError(.invalidArgument, "open /\(resolved): not a regular file")
        }
        return node
    }
}
