import CLinux
import Glibc
import Platform

/// A tar archive read once and indexed, without unpacking it: the tree its entries make, as
/// `LayerApplier` in copy mode would make it on disk (the build context of `docker build`), with
/// each regular file's content found again by its offset in a file.
///
/// The same entries are refused as `LayerApplier`'s copy mode refuses them, with its messages:
/// a path leaving the root, an entry (or a hardlink's target) through a symlink or a
/// non-directory, a hardlink to a directory or to nothing. What the tree holds is what the
/// unpacked directory would: a later entry replaces an earlier one (a directory over a
/// directory only changes its metadata), missing parents are directories of mode 0755, a
/// hardlink is its target's content, modes are the entries' (`& 0o7777`), a symlink's is 0777.
///
/// Paths resolve as `ScopedRoot` resolves them on disk (every symlink followed inside the
/// root, `..` stopping at the root, at most 40 links), with the same errors, so code written
/// against the unpacked directory answers the same from the index.
public final class TarIndex {
    public enum Kind: Sendable, Equatable {
        case directory, regular, symlink
        /// A device or fifo: listed, never copied.
        case other
    }

    public struct Node: Sendable, Equatable {
        public var kind: Kind
        public var mode: UInt32
        public var size: Int
        public var mtime: Int64
        public var linkTarget: String
        /// Where the content starts in `contentFD`.
        public var offset: Int
    }

    /// The root's mode: the directory the context was unpacked into was made 0700 (its mode is
    /// part of a COPY of `.`'s checksum, kept as it was).
    public static let rootMode: UInt32 = 0o700

    /// The descriptor holding every regular file's content (not owned).
    public let contentFD: Int32
    /// Nodes by cleaned relative path; the root is "".
    private var nodes: [String: Node] = [:]
    private var children: [String: Set<String>] = [:]
    private var current = ""

    /// Indexes `reader`. With `copyTo`, every regular file's content is appended to that file
    /// (a compressed stream: the offsets are then that file's); without, the content is left
    /// where it is and the offsets are the archive's (`archiveFD`: an uncompressed tar).
    public init(_ reader: TarReader, archiveFD: Int32, copyTo: Int32? = nil, now: Int64 = Int64(time(nil))) throws(ImageError) {
        contentFD = copyTo ?? archiveFD
        nodes[""] = Node(kind: .directory, mode: TarIndex.rootMode, size: 0, mtime: now, linkTarget: "", offset: 0)
        let copier = copyTo.map { ContentCopier(fd: $0) }
        while let entry = try reader.next() {
            current = entry.path
            let components = try clean(entry.path)
            guard let name = components.last else {
                guard entry.kind == .directory else { throw invalid("names the root directory") }
                continue
            }
            let parent = try parentPath(components, create: true, now: now)
            let path = parent.isEmpty ? name : parent + "/" + name
            var node = Node(kind: .regular, mode: entry.mode & 0o7777, size: 0, mtime: entry.mtime, linkTarget: "", offset: 0)
            switch entry.kind {
            case .directory:
                node.kind = .directory
            case .regular:
                node.size = entry.size
                if let copier {
                    node.offset = try copier.append(reader, name: entry.path)
                } else {
                    node.offset = reader.offset
                }
            case .symlink:
                node.kind = .symlink
                node.mode = 0o777
                node.linkTarget = entry.linkTarget
            case .hardlink:
                let target = try clean(entry.linkTarget, what: "hardlink target")
                guard let targetName = target.last else { throw invalid("is a hardlink to the root directory") }
                let targetParent = try parentPath(target, create: false, now: now)
                guard let linked = nodes[targetParent.isEmpty ? targetName : targetParent + "/" + targetName] else {
                    throw ImageError(.invalidArgument, "tar entry \"\(current)\": hardlink target \"\(entry.linkTarget)\" does not exist")
                }
                guard linked.kind != .directory else { throw invalid("is a hardlink to a directory") }
                node = linked
            case .characterDevice, .blockDevice, .fifo:
                node.kind = .other
            }
            if let existing = nodes[path] {
                if existing.kind == .directory && node.kind == .directory {
                    nodes[path] = node
                    continue
                }
                remove(path)
            }
            nodes[path] = node
            children[parent, default: []].insert(name)
        }
        try copier?.flush()
    }

    /// An empty context (an empty request body): the root alone.
    public init(empty fd: Int32, now: Int64 = Int64(time(nil))) {
        contentFD = fd
        nodes[""] = Node(kind: .directory, mode: TarIndex.rootMode, size: 0, mtime: now, linkTarget: "", offset: 0)
    }

    /// The node at `path` (cleaned, relative; "" the root), symlinks not followed.
    public func node(_ path: String) -> Node? { nodes[path] }

    /// The names in the directory `path`, sorted.
    public func names(_ path: String) -> [String] { (children[path] ?? []).sorted() }

    /// Resolves `path` as `ScopedRoot.resolve` does on the unpacked tree: the cleaned relative
    /// path of what it names ("" the root), every symlink on the way followed inside the root.
    public func resolve(_ path: String, followLast: Bool) throws(ImageError) -> String {
        var pending = ArraySlice(ScopedRoot.components(path))
        var chain: [String] = []
        var links = 0
        while let component = pending.first {
            pending = pending.dropFirst()
            if component == ".." {
                _ = chain.popLast()
                continue
            }
            let at = "/" + (chain + [component]).joined(separator: "/")
            let candidate = (chain + [component]).joined(separator: "/")
            guard let node = nodes[candidate] else { throw ScopedRoot.failure("open", at, ENOENT) }
            if node.kind == .symlink && (followLast || !pending.isEmpty) {
                links += 1
                guard links <= ScopedRoot.symlinkLimit else { throw ScopedRoot.failure("resolve", path, ELOOP) }
                if node.linkTarget.hasPrefix("/") { chain = [] }
                pending = ArraySlice(ScopedRoot.components(node.linkTarget)) + pending
                continue
            }
            if !pending.isEmpty && node.kind != .directory {
                throw ScopedRoot.failure("open", at + "/" + pending.joined(separator: "/"), ENOTDIR)
            }
            chain.append(component)
        }
        return chain.joined(separator: "/")
    }

    /// Calls `body` with the content of the regular file `node`, in chunks.
    public func withContent(_ node: Node, name: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(max(node.size, 1), 256 << 10), alignment: 16)
        defer { buffer.deallocate() }
        var done = 0
        while done < node.size {
            let n = Syscall.retrying { pread(contentFD, buffer.baseAddress, min(buffer.count, node.size - done), off_t(node.offset + done)) }
            guard n > 0 else {
                throw ImageError(.io, "build context \"\(name)\": read: \(n < 0 ? String(cString: strerror(errno)) : "unexpected end")")
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            done += n
        }
    }

    // MARK: - Building the tree

    private func remove(_ path: String) {
        nodes[path] = nil
        for child in children.removeValue(forKey: path) ?? [] { remove(path + "/" + child) }
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { String(path[..<$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        children[parent]?.remove(name)
    }

    /// `LayerApplier`'s copy-mode cleaning: a leading `/` dropped, `..` resolved lexically, an
    /// entry above the root refused.
    private func clean(_ path: String, what: String = "path") throws(ImageError) -> [String] {
        var components: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            if part == ".." {
                guard !components.isEmpty || path.hasPrefix("/") else {
                    throw ImageError(.invalidArgument, "\"\(path)\" is outside of \"/\"")
                }
                _ = components.popLast()
                continue
            }
            components.append(String(part))
        }
        return components
    }

    /// The path of the directory holding the last component; missing directories are made
    /// when `create` is set. A component that is a symlink or not a directory is refused.
    private func parentPath(_ components: [String], create: Bool, now: Int64) throws(ImageError) -> String {
        var path = ""
        for component in components.dropLast() {
            let next = path.isEmpty ? component : path + "/" + component
            if let node = nodes[next] {
                guard node.kind == .directory else {
                    throw invalid("goes through \"\(next)\", which is a symlink or not a directory")
                }
            } else {
                guard create else { throw ImageError(.invalidArgument, "tar entry \"\(current)\": \"\(next)\" does not exist") }
                nodes[next] = Node(kind: .directory, mode: 0o755, size: 0, mtime: now, linkTarget: "", offset: 0)
                children[path, default: []].insert(component)
            }
            path = next
        }
        return path
    }

    private func invalid(_ what: String) -> ImageError {
        ImageError(.invalidArgument, "tar entry \"\(current)\" \(what)")
    }
}

/// Appends regular files' content to one file, through a buffer (a context of many small
/// files is then a few large writes).
private final class ContentCopier {
    let fd: Int32
    var buffer: [UInt8] = []
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    var offset = 0

    init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(1 << 20)
    }

    deinit { chunk.deallocate() }

    /// Copies the current entry's content; where it starts in the file.
    func append(_ reader: TarReader, name: String) throws(ImageError) -> Int {
        let start = offset
        while true {
            let n = try reader.read(into: chunk)
            if n == 0 { break }
            buffer += UnsafeRawBufferPointer(rebasing: chunk[0..<n])
            offset += n
            if buffer.count >= 1 << 20 { try flush() }
        }
        return start
    }

    func flush() throws(ImageError) {
        var written = 0
        while written < buffer.count {
            let n = buffer[written...].withUnsafeBytes { bytes in Syscall.retrying { write(fd, bytes.baseAddress, bytes.count) } }
            guard n > 0 else { throw ImageError(.io, "build context: write its content: \(String(cString: strerror(errno)))") }
            written += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
