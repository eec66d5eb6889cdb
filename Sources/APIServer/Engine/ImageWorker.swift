import CLinux
import NIOCore
import Images
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// A running `skiff-image` (installed beside `skiff`): its standard output is what the client
/// gets, its failure arrives as `{"status", "message"}` on a pipe at its descriptor 3.
final class ImageWorker {
    let pid: pid_t
    let output: Int32
    private let failure: Int32
    private var reaped = false

    /// The worker program: beside this executable.
    static var path: String { Engine.executableBeside("skiff-image") }

    /// Starts `skiff-image command --root <root> [--userns] arguments...`; `input` becomes its
    /// standard input (rewound first), else `stdin` (a pipe the caller feeds), else /dev/null.
    /// `environment` is added to this process's.
    /// `extra` become the worker's descriptors 4, 5... (a container's root and user namespace
    /// for the archive verbs); the caller keeps and closes its own copies. `joinsNamespace`: the
    /// worker enters the user namespace given it (`--userns-fd`), not one of its own.
    init(engine: Engine, command: String, arguments: [String], input: SpooledBody? = nil, stdin: Int32? = nil,
         environment: [String: String] = [:], extra: [Int32] = [], joinsNamespace: Bool = false) throws {
        var argv = [ImageWorker.path, command, "--root", engine.config.skiffRoot]
        if engine.isRootless && !joinsNamespace { argv.append("--userns") }
        if let limit = getenv("SKIFF_MAX_LAYER_SIZE").map({ String(cString: $0) }), Int(limit) != nil {
            argv += ["--max-layer-size", limit]
        }
        argv += arguments
        var outputPipe: [Int32] = [-1, -1], failurePipe: [Int32] = [-1, -1]
        guard skiff_pipe2(&outputPipe, O_CLOEXEC) == 0 else { throw ImageWorker.systemError("pipe") }
        _ = fcntl(outputPipe[1], SKIFF_F_SETPIPE_SZ, Int32(ImageWorker.pipeSize))
        guard skiff_pipe2(&failurePipe, O_CLOEXEC) == 0 else {
            close(outputPipe[0]); close(outputPipe[1])
            throw ImageWorker.systemError("pipe")
        }
        defer {
            close(outputPipe[1])
            close(failurePipe[1])
        }
        var inputFD: Int32
        if let input {
            lseek(input.fd, 0, SEEK_SET)
            inputFD = input.fd
        } else if let stdin {
            inputFD = stdin
        } else {
            inputFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        }
        defer { if input == nil && stdin == nil { close(inputFD) } }

        // Standard error stays the service's own.
        let child: pid_t
        do {
            child = try Spawn.start(argv, descriptors: [inputFD, outputPipe[1], 2, failurePipe[1]] + extra,
                                    environment: environment)
        } catch {
            close(outputPipe[0]); close(failurePipe[0])
            throw error
        }
        pid = child
        output = outputPipe[0]
        failure = failurePipe[0]
    }

    deinit {
        if !reaped {
            kill(pid, SIGTERM)
            _ = wait()
        }
        close(output)
        close(failure)
    }

    /// Reads standard output; 0 at its end.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        max(Syscall.retrying { Glibc.read(output, buffer.baseAddress, buffer.count) }, 0)
    }

    /// Standard output to its end, or its first `limit` bytes (a worker's answer is small;
    /// past the limit it is not read further).
    func readOutput(limit: Int = 1 << 16) -> [UInt8] {
        var output: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while output.count < limit {
            let n = read(into: buffer)
            if n == 0 { break }
            output += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        }
        return output
    }

    /// Asks the worker to stop (the client went away).
    func terminate() {
        if !reaped { kill(pid, SIGTERM) }
    }

    /// Waits for the worker; nil when it succeeded, else the error it reported.
    func wait() -> EngineError? {
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while text.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { raw in Syscall.retrying { Glibc.read(failure, raw.baseAddress, raw.count) } }
            if n <= 0 { break }
            text += chunk[0..<n]
        }
        var status: Int32 = 0
        if !reaped {
            _ = Syscall.retrying { waitpid(pid, &status, 0) }
            reaped = true
        }
        if status == 0 && text.isEmpty { return nil }
        if let json = try? JSONParser.parse(text), let failure = WorkerFailure(json: json) {
            return EngineError(EngineError.Code(failure.kind), failure.message)
        }
        let signal = status & 0x7f
        return EngineError(.internal, signal != 0 ? "the image worker was killed by signal \(signal)"
            : "the image worker failed (exit status \((status >> 8) & 0xff))")
    }

    private static func systemError(_ what: String) -> EngineError {
        EngineError(.internal, "\(what): \(String(cString: strerror(errno)))")
    }

    /// Runs a worker whose output is a JSON message stream, relaying it to the client. A
    /// failure before any output is the response's error; after, it becomes an `errorDetail`
    /// message, as moby reports errors in a progress stream. Returns whether the worker succeeded.
    @discardableResult
    static func relayMessages(_ worker: ImageWorker, to writer: ResponseWriter,
                              observer: ImageEvents.Output? = nil) throws -> Bool {
        try relay(worker, to: writer, observer: observer)
        guard let error = worker.wait() else { return true }
        try ImageHandlers.report(error, writer)
        return false
    }

    /// Copies standard output to the client until it ends (and to `observer`); a client that
    /// went away stops the worker.
    /// Reads straight into the buffers sent, up to a pipe's worth (1 MiB) each, with one write
    /// in flight while the next chunk is read.
    static func relay(_ worker: ImageWorker, to writer: ResponseWriter, observer: ImageEvents.Output? = nil) throws {
        var inFlight: EventLoopFuture<Void>?
        do {
            while true {
                var buffer = writer.allocator.buffer(capacity: ImageWorker.pipeSize)
                let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: ImageWorker.pipeSize) { worker.read(into: $0) }
                if n == 0 { break }
                if let observer { buffer.withUnsafeReadableBytes { observer.append($0) } }
                if let inFlight { try writer.settle(inFlight) }
                inFlight = writer.send(buffer)
            }
            if let inFlight { try writer.settle(inFlight) }
        } catch {
            worker.terminate()
            _ = worker.wait()
            throw error
        }
    }

    /// The capacity asked for the output pipe: fewer, larger hand-overs of a streamed archive
    /// (best effort: the user's pipe quota may refuse it).
    static let pipeSize = 1 << 20
}

extension EngineError.Code {
    /// The code for a worker's failure (skiff-image and the service compile `WorkerFailure` from
    /// one definition).
    init(_ kind: WorkerFailure.Kind) {
        switch kind {
        case .invalidArgument: self = .invalidArgument
        case .notFound: self = .notFound
        case .conflict: self = .conflict
        case .failed: self = .internal
        case .unavailable: self = .unavailable
        }
    }
}
