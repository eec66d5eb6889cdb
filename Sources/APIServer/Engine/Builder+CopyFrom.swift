import Dockerfile
import Images
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `COPY --from=STAGE|INDEX|IMAGE`: the sources are read from the files of an earlier stage's
/// image (or any image, pulled if missing) through a created container of it and the worker's
/// `archive-get` (paths resolved inside that image's root), renamed for the destination, and
/// put into the step's container as a context COPY is.
extension Builder {
    func copyFrom(_ instruction: Dockerfile.Instruction, from: String, sources: [String], destination: String,
                  mode: UInt32?, owner: String) throws {
        let keyword = instruction.keyword
        let sourceImage = try stageImage(instruction, from)
        let reader = try createContainer(sourceImage, command: ["/bin/sh"])
        let wantsDirectory = destination.hasSuffix("/") || sources.count > 1
        let singleTarget = try !wantsDirectory && !destinationIsDirectory(destination)
        let tarPath = scratch + "/step.tar"
        let fd = open(tarPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw EngineError(.internal, "build: open \(tarPath): \(String(cString: strerror(errno)))") }
        defer { close(fd); unlink(tarPath) }
        let writer = TarWriter(sink: FileByteSink(fd: fd, name: "the step's archive"))
        var hasher = SHA256()
        var directory = destination
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        for source in sources {
            let (statLine, worker) = try archive(reader, source, keyword: keyword)
            guard let stat = try? JSONParser.parse(statLine), case .int(let statMode)? = stat["mode"] else {
                throw EngineError(.internal, "build: the image worker's stat of \(source) is not JSON")
            }
            let isDirectory = statMode & (1 << 31) != 0
            var rename: String?
            if !isDirectory && singleTarget {
                let cleaned = DockerIgnore.clean(destination)
                directory = String(cleaned[..<(cleaned.lastIndex(of: "/") ?? cleaned.startIndex)])
                if directory.isEmpty { directory = "/" }
                rename = String(cleaned.split(separator: "/").last ?? "")
            }
            let tar = TarReader(source: WorkerOutput(worker))
            do {
                while var entry = try tar.next() {
                    // The archive names the source by its base name: a directory's contents go
                    // into the destination, a file keeps its name or takes the destination's.
                    let components = entry.path.split(separator: "/", omittingEmptySubsequences: true)
                    if isDirectory {
                        if components.count <= 1 { continue }
                        entry.path = components.dropFirst().joined(separator: "/")
                    } else if let rename {
                        entry.path = rename
                    }
                    entry.uid = 0
                    entry.gid = 0
                    if let mode, entry.kind != .symlink { entry.mode = mode }
                    try writer.entry(entry)
                    hasher.update(Array("\(entry.path) \(entry.mode) \(entry.size) \(entry.linkTarget)\n".utf8))
                    while true {
                        let n = try tar.read(into: buffer)
                        if n == 0 { break }
                        let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                        hasher.update(chunk)
                        try writer.write(chunk)
                    }
                }
            } catch {
                worker.terminate()
                _ = worker.wait()
                throw error
            }
            while worker.read(into: buffer) > 0 {}
            if let error = worker.wait() { throw EngineError(error.code, "\(keyword) failed: \(error.message)") }
        }
        try writer.finish()
        let checksum = hasher.finalize().description
        let createdBy = "/bin/sh -c #(nop) \(keyword) --from=\(from) dir:\(checksum.dropFirst(7)) in \(destination) "
        let key = "\(keyword) --from\n\(sourceImage)\n\(owner)\n\(directory)\n\(checksum)"
        if try cached(instruction, createdBy: createdBy, key: key) { return }
        guard let parent = imageID else {
            guard owner == "0:0" else { throw fail(instruction, "\(keyword) onto scratch: --chown needs a base image") }
            try commit(instruction, createdBy: createdBy, layer: .tar(fd, under: directory, modes: []), key: key)
            return
        }
        let id = try createContainer(parent, command: ["/bin/sh"])
        try put(try engine.currentContainer(id), fd: fd, at: directory, owner: owner)
        try commit(instruction, createdBy: createdBy, layer: .container(id), key: key)
    }

    /// The image `--from` names: an earlier stage by name or index, else an image.
    func stageImage(_ instruction: Dockerfile.Instruction, _ from: String) throws -> String {
        let earlier = stages.dropLast()
        var found: String??
        if let index = Int(from) {
            guard index >= 0 && index < earlier.count else {
                throw fail(instruction, "invalid from flag value \(from): refers to current build stage or one that does not exist")
            }
            found = .some(earlier[index].imageID)
        } else if let stage = earlier.last(where: { $0.name == from.lowercased() && !$0.name.isEmpty }) {
            found = .some(stage.imageID)
        }
        if let found {
            guard let id = found else { throw fail(instruction, "COPY --from=\(from): that stage has no files (FROM scratch with no layer)") }
            return id
        }
        if stages.last?.name == from.lowercased() {
            throw fail(instruction, "invalid from flag value \(from): refers to current build stage or one that does not exist")
        }
        return try resolveImage(from)
    }

    /// The worker's archive of `path` in the container `id`: its stat line and the stream.
    func archive(_ id: String, _ path: String, keyword: String) throws -> ([UInt8], ImageWorker) {
        do {
            return try engine.getContainerArchive(id, path: path.hasPrefix("/") ? path : "/" + path)
        } catch let error as EngineError where error.code == .notFound {
            throw EngineError(.invalidArgument, "\(keyword) failed: stat \(path): file does not exist")
        }
    }
}

/// A worker's standard output as a byte source (a tar to read entry by entry).
final class WorkerOutput: ByteSource {
    let worker: ImageWorker

    init(_ worker: ImageWorker) {
        self.worker = worker
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageError) -> Int {
        worker.read(into: buffer)
    }
}
