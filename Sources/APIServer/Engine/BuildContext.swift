import CLinux
import Dockerfile
import Images
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The build context of `docker build`: the request's tar (plain, gzip or zstd; bzip2 and xz are
/// refused by name) unpacked by `LayerApplier` in copy mode into a directory of the build's own
/// (no entry may leave it; symlinks are kept, never followed), `.dockerignore` read from it, and
/// the sources of COPY and ADD resolved inside it (`ScopedRoot`: a symlink that points out of
/// the context lands inside it, as moby's `FollowSymlinkInScope`) and written as a tar.
final class BuildContext {
    let directory: String
    let root: ScopedRoot
    let ignore: DockerIgnore

    /// Unpacks `body` into `directory` (made here; the caller removes it).
    init(body: SpooledBody, directory: String, limit: Int) throws {
        self.directory = directory
        guard mkdir(directory, 0o700) == 0 else {
            throw EngineError(.internal, "build: make \(directory): \(String(cString: strerror(errno)))")
        }
        var magic = [UInt8](repeating: 0, count: 6)
        let n = pread(body.fd, &magic, 6, 0)
        magic = Array(magic.prefix(max(0, n)))
        if magic.starts(with: [0x42, 0x5A, 0x68]) {
            throw EngineError(.invalidArgument, "the build context is bzip2-compressed: send it plain, gzip or zstd")
        }
        if magic.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            throw EngineError(.invalidArgument, "the build context is xz-compressed: send it plain, gzip or zstd")
        }
        if body.size > 0 {
            lseek(body.fd, 0, SEEK_SET)
            let options = LayerApplier.Options(mode: .copy(noOverwriteDirNonDir: false, destination: "/"),
                                               tolerateEPERM: true)
            do {
                let source = try LayerStream.decompressed(FileByteSource(fd: body.fd, name: "the build context"),
                                                          LayerStream.sniff(magic), limit: limit)
                _ = try LayerApplier(root: directory, options: options).apply(TarReader(source: source))
            } catch {
                throw EngineError(error.code == .io ? .internal : .invalidArgument,
                                  "Error processing tar file: \(error.message)")
            }
        }
        let fd = open(directory, SKIFF_O_PATH_FLAG | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw EngineError(.internal, "build: open \(directory): \(String(cString: strerror(errno)))") }
        root = ScopedRoot(fd: fd)
        if let bytes = try? BuildContext.readFile(root, ".dockerignore") {
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
    static func readFile(_ root: ScopedRoot, _ path: String, limit: Int = 4 << 20) throws -> [UInt8] {
        let location = try root.resolve("/" + path, followLast: true)
        let fd = try location.open(O_RDONLY)
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw EngineError(.invalidArgument, "\(path) is not a regular file")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count <= limit {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        guard bytes.count <= limit else { throw EngineError(.invalidArgument, "\(path) is larger than \(limit >> 20) MiB") }
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
            return [Source(path: cleaned, isDirectory: info.st_mode & S_IFMT == S_IFDIR)]
        }
        var found: [Source] = []
        try walk("", depth: cleaned.split(separator: "/").count) { path, info in
            if compiled.matches(path) && !ignore.excludes(path) {
                found.append(Source(path: path, isDirectory: info.st_mode & S_IFMT == S_IFDIR))
            }
        }
        guard !found.isEmpty else {
            throw EngineError(.invalidArgument, "\(keyword) failed: no source files were specified")
        }
        return found
    }

    /// The stat of `path` with every symlink followed inside the context; nil when missing.
    func lstatResolved(_ path: String) throws(ImageError) -> stat? {
        do {
            return try root.resolve("/" + path, followLast: true).lstat()
        } catch where error.code == .notFound {
            return nil
        }
    }

    /// Calls `body` for every path down to `depth` components, in name order.
    private func walk(_ prefix: String, depth: Int, _ body: (String, stat) throws -> Void) throws {
        guard depth > 0 else { return }
        let fd = try root.resolve("/" + prefix, followLast: true).open(O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        for name in try TreeArchiver.names(fd, "/" + prefix).sorted() {
            var info = stat()
            guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let path = prefix.isEmpty ? name : prefix + "/" + name
            try body(path, info)
            if info.st_mode & S_IFMT == S_IFDIR { try walk(path, depth: depth - 1, body) }
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
            let location = try root.resolve("/" + relative, followLast: followLast)
            let info = try location.lstat()
            var entry = TarEntry(path: name, kind: .regular, size: 0, mode: mode ?? UInt32(info.st_mode & 0o7777),
                                 uid: 0, gid: 0, mtime: Int64(info.st_mtim.tv_sec), linkTarget: "",
                                 deviceMajor: 0, deviceMinor: 0, xattrs: [])
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                entry.kind = .directory
                if !name.isEmpty { try writer?.entry(entry) }
                hasher.update(Array("d \(name) \(entry.mode)\n".utf8))
                let fd = try location.open(O_RDONLY | O_DIRECTORY)
                let names: [String]
                do { names = try TreeArchiver.names(fd, "/" + relative).sorted() } catch { close(fd); throw error }
                close(fd)
                for child in names {
                    let childRelative = relative == "." || relative.isEmpty ? child : relative + "/" + child
                    if ignore.excludes(childRelative) { continue }
                    try add(childRelative, as: name.isEmpty ? child : name + "/" + child, followLast: false)
                }
            case S_IFLNK:
                entry.kind = .symlink
                entry.mode = UInt32(info.st_mode & 0o7777)
                entry.linkTarget = ScopedRoot.readLink(location.parent, location.name ?? "") ?? ""
                try writer?.entry(entry)
                hasher.update(Array("l \(name) \(entry.linkTarget)\n".utf8))
            case S_IFREG:
                entry.size = Int(info.st_size)
                try writer?.entry(entry)
                hasher.update(Array("f \(name) \(entry.mode) \(entry.size)\n".utf8))
                let file = try location.open(O_RDONLY)
                defer { close(file) }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
                defer { buffer.deallocate() }
                var left = entry.size
                while left > 0 {
                    let n = Glibc.read(file, buffer.baseAddress, min(left, buffer.count))
                    guard n > 0 else { throw EngineError(.internal, "build: read \(relative): \(String(cString: strerror(errno)))") }
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                    hasher.update(chunk)
                    try writer?.write(chunk)
                    left -= n
                }
            default:
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
        let fd = try root.resolve("/" + path, followLast: true).open(O_RDONLY)
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &head, 512, 0)
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
        let fd = try root.resolve("/" + path, followLast: true).open(O_RDONLY)
        defer { close(fd) }
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n <= 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hasher.finalize().description
    }
}
