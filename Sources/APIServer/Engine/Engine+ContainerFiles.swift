import CLinux
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `docker cp` both ways and `docker export`: the work runs in the image worker
/// (`skiff-image archive-*`, `export`; see `ContainerArchive.swift` there), inside the user's
/// namespace, on the container's root resolved with `ScopedRoot`. A running container's root is
/// `/proc/<pid>/root` of its first process, opened here (the user owns the container's user
/// namespace, so may open it) and handed to the worker as its descriptor 4; a stopped one's
/// overlay is mounted by the worker in a mount namespace of its own.
extension Engine {
    /// Starts `command` of the worker on `record`'s files. For a running container of a rootless
    /// service the worker joins the container's own user namespace (`/proc/<pid>/ns/user`, its
    /// descriptor 5) instead of making one: no `newuidmap`, no second exec, and the ids in the
    /// archive are the container's by construction.
    func startContainerFiles(_ record: ContainerRecord, command: String, arguments: [String],
                             stdin: Int32? = nil) throws -> ImageWorker {
        var rootFD: Int32 = -1, namespaceFD: Int32 = -1
        defer {
            if rootFD >= 0 { close(rootFD) }
            if namespaceFD >= 0 { close(namespaceFD) }
        }
        if record.isActive && record.pid > 0 {
            rootFD = try Engine.openRunningRoot(record)
            if isRootless { namespaceFD = try Engine.containerUserNamespace(record) }
            try Engine.checkStillRunning(record)
        }
        var argv = ["--container", record.id] + arguments
        var extra: [Int32] = []
        if rootFD >= 0 {
            argv += ["--root-fd", "4"]
            extra.append(rootFD)
        }
        if namespaceFD >= 0 {
            argv += ["--userns-fd", "5"]
            extra.append(namespaceFD)
        }
        return try ImageWorker(engine: self, command: command, arguments: argv, stdin: stdin,
                               extra: extra, joinsNamespace: namespaceFD >= 0)
    }

    /// `/proc/<pid>/root` of a running container's first process (an O_PATH descriptor).
    static func openRunningRoot(_ record: ContainerRecord) throws -> Int32 {
        let fd = open("/proc/\(record.pid)/root", SKIFF_O_PATH_FLAG | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            // Gone since the row was read: it stopped meanwhile.
            let code = errno
            throw EngineError(code == ENOENT || code == ESRCH ? .conflict : .internal,
                              "container \(record.id): open /proc/\(record.pid)/root: \(String(cString: strerror(code)))")
        }
        return fd
    }

    /// The row's pid is the container's only while its supervisor has not reaped it: between
    /// that and the recorded exit it may be another process's, whose root a PUT would write
    /// into. Descriptors opened from `/proc/<pid>` are the container's if, after they were
    /// opened, the pid's parent is still the container's own live supervisor (the process's
    /// parent, and its subreaper).
    static func checkStillRunning(_ record: ContainerRecord) throws {
        guard ProcessStat.parent(of: record.pid) == record.monitorPID,
              ProcessStat.probe(record.monitorPID, startTime: record.monitorStartTime) == .alive else {
            throw EngineError(.conflict, "Container \(record.id) is not running")
        }
    }

    /// The running container's user namespace, opened for the worker to join; -1 when it is
    /// the service's own (nothing to join: the worker then makes its own as for a stopped one).
    static func containerUserNamespace(_ record: ContainerRecord) throws -> Int32 {
        let fd = open("/proc/\(record.pid)/ns/user", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw EngineError(code == ENOENT || code == ESRCH ? .conflict : .internal,
                              "container \(record.id): open /proc/\(record.pid)/ns/user: \(String(cString: strerror(code)))")
        }
        var theirs = stat(), ours = stat()
        if fstat(fd, &theirs) == 0, stat("/proc/self/ns/user", &ours) == 0,
           theirs.st_ino == ours.st_ino, theirs.st_dev == ours.st_dev {
            close(fd)
            return -1
        }
        return fd
    }

    /// The worker's failure for a path in a container, as moby words a missing one.
    static func containerFileError(_ error: EngineError, path: String, container: String) -> EngineError {
        guard error.code == .notFound else { return error }
        return EngineError(.notFound, "Could not find the file \(path) in container \(container)")
    }

    /// `HEAD /containers/{id}/archive`: the path's stat (`X-Docker-Container-Path-Stat`).
    func statContainerPath(_ container: String, path: String) throws -> [UInt8] {
        let record = try currentContainer(container)
        if let stat = try Engine.statInService(record, path: path, container: container) { return stat }
        let worker = try startContainerFiles(record, command: "archive-stat", arguments: ["--path", path])
        let output = worker.readOutput()
        if let error = worker.wait() { throw Engine.containerFileError(error, path: path, container: container) }
        return Array(output.prefix { $0 != 0x0A })
    }

    /// A running container's path stat'ed here, through `/proc/<pid>/root`, with the same
    /// resolution the worker uses (`ContainerPathStat.resolve` on a `ScopedRoot`): the docker
    /// CLI stats before every copy, and a worker costs a spawn and a namespace join. The
    /// service is not in the container's user namespace, so a directory on the way that only
    /// the container's users may search (EACCES, EPERM) is left to the worker, which is; nil
    /// then, and for a stopped container (its overlay is not mounted anywhere).
    static func statInService(_ record: ContainerRecord, path: String, container: String) throws -> [UInt8]? {
        guard record.isActive && record.pid > 0 else { return nil }
        let root = ScopedRoot(fd: try openRunningRoot(record))
        try checkStillRunning(record)
        do {
            let (_, stat) = try ContainerPathStat.resolve(path, in: root)
            return stat.json.bytes
        } catch let error {
            if error.systemErrno == EACCES || error.systemErrno == EPERM { return nil }
            // As the worker's failure would come back (`WorkerFailure.from`, then `wait`).
            let code: EngineError.Code
            switch error.code {
            case .notFound: code = .notFound
            case .invalidArgument: code = .invalidArgument
            case .invalidState: code = .conflict
            case .corrupt, .io: code = .internal
            }
            throw Engine.containerFileError(EngineError(code, error.message), path: path, container: container)
        }
    }

    /// `GET /containers/{id}/archive`: the worker (its stat line already read) streaming the tar.
    func getContainerArchive(_ container: String, path: String) throws -> (stat: [UInt8], worker: ImageWorker) {
        let record = try currentContainer(container)
        let worker = try startContainerFiles(record, command: "archive-get", arguments: ["--path", path])
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 1 << 16 {
            let n = withUnsafeMutableBytes(of: &byte) { worker.read(into: $0) }
            if n == 0 || byte == 0x0A { break }
            line.append(byte)
        }
        if line.isEmpty || byte != 0x0A {
            let error = worker.wait() ?? EngineError(.internal, "the image worker ended without the path's stat")
            throw Engine.containerFileError(error, path: path, container: container)
        }
        return (line, worker)
    }

    /// `PUT /containers/{id}/archive`: the archive in `body` extracted at `path` while it
    /// arrives: the worker reads it from a pipe this thread feeds. Whatever fails, the rest of
    /// the body is discarded (the connection then closes after the answer).
    func putContainerArchive(_ container: String, path: String, body: BodyFeed, noOverwriteDirNonDir: Bool,
                             copyUIDGID: Bool) throws {
        var pipe: [Int32] = [-1, -1]
        let worker: ImageWorker
        do {
            let record = try currentContainer(container)
            var arguments = ["--path", path]
            if noOverwriteDirNonDir { arguments.append("--no-overwrite-dir-non-dir") }
            if copyUIDGID {
                let stored = try StoredContainer(record)
                let user = stored.string(stored.config["User"])
                if !user.isEmpty { arguments += ["--chown-user", user] }
            }
            guard skiff_pipe2(&pipe, O_CLOEXEC) == 0 else {
                throw EngineError(.internal, "container \(record.id): pipe: \(String(cString: strerror(errno)))")
            }
            // Fewer, larger hand-overs (best effort: the user's pipe quota may refuse it).
            _ = fcntl(pipe[1], SKIFF_F_SETPIPE_SZ, Int32(1 << 20))
            do {
                worker = try startContainerFiles(record, command: "archive-put", arguments: arguments, stdin: pipe[0])
            } catch {
                close(pipe[1])
                throw error
            }
            close(pipe[0])
            pipe[0] = -1
        } catch {
            if pipe[0] >= 0 { close(pipe[0]) }
            body.discard()
            throw error
        }
        let copied: Int32?
        do {
            copied = try body.copy(to: pipe[1])
        } catch {
            close(pipe[1])
            worker.terminate()
            _ = worker.wait()
            throw EngineError(.internal, "container \(container): the client went away before the end of the archive")
        }
        close(pipe[1])
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        while worker.read(into: buffer) > 0 {}
        if let error = worker.wait() { throw Engine.containerFileError(error, path: path, container: container) }
        // EPIPE after a success: the worker stopped at the archive's end marker, and what
        // followed (the tar writer's padding to its record size) is not read, as moby's Untar.
        if let copied, copied != EPIPE {
            throw EngineError(.internal, "container \(container): writing the archive to the image worker: \(String(cString: strerror(copied)))")
        }
    }

    /// `GET /containers/{id}/export`: the worker streaming the root's tar.
    func exportContainer(_ container: String) throws -> ImageWorker {
        let record = try currentContainer(container)
        return try startContainerFiles(record, command: "export", arguments: [])
    }

    /// `GET /containers/{id}/changes`: the worker's `[{"Path","Kind"}]`, read from the upper
    /// directory against the image's layers.
    func containerChanges(_ container: String) throws -> JSON {
        let record = try currentContainer(container)
        let worker = try ImageWorker(engine: self, command: "changes", arguments: ["--container", record.id])
        let output = worker.readOutput(limit: .max)
        if let error = worker.wait() { throw error }
        do {
            return try JSONParser.parse(output)
        } catch {
            throw EngineError(.internal, "container \(record.id): changes: the image worker's answer is not JSON")
        }
    }
}
