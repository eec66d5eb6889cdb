import MonitorProtocol
import Platform
import Store

/// The exec routes (moby's ContainerExec, ExecStart, ExecResize, ExecInspect): decode, then the
/// engine's exec operations (Engine+Exec.swift, docs/exec.md).
enum ExecHandlers {
    // MARK: - POST /containers/{id}/exec

    @Sendable static func containerExec(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.parameters["id"] ?? ""
        let config = try ExecConfig.decode(request.body)
        let id = try engine.createExec(name, config)
        return .json(.object([JSON.Member("Id", .string(id))]), status: .created)
    }

    // MARK: - POST /exec/{id}/start

    /// With `Detach`: 200 once the process runs. Without: the connection is hijacked and
    /// relayed to the exec's supervisor (`ExecSession`), multiplexed without a TTY (API 1.42+
    /// says so in the content type, as for attach).
    @Sendable static func execStart(_ request: Request, _ engine: Engine) throws -> Response {
        let id = request.parameters["id"] ?? ""
        let check = try ExecStartCheck.decode(request.body)
        let prepared = try engine.prepareExecStart(id, consoleSize: check.consoleSize)
        if check.detach {
            if let failure = prepared.failure { throw EngineError(.internal, failure) }
            let launch = try engine.launchExec(prepared)
            defer { launch.finish() }
            do {
                try launch.start()
            } catch {
                // moby: a start the runtime refused is the client's (400), the rest the engine's.
                if case .failed(let failure) = error, failure.step != .monitor {
                    throw EngineError(.invalidArgument, failure.message)
                }
                throw EngineError(.internal, "\(error)")
            }
            return Response(status: .ok)
        }
        let launch = prepared.failure == nil ? try engine.launchExec(prepared) : nil
        let config = prepared.config
        let keys = (try? DetachKeys(parsing: config.detachKeys)) ?? DetachKeys.default
        var options = AttachOptions(
            containerID: id,
            stdin: config.attachStdin,
            stdout: config.attachStdout,
            stderr: config.attachStderr,
            logs: false,
            stream: true,
            tty: config.tty,
            stdinOnce: true,
            detachKeys: keys,
            logPath: "",
            runDirectory: engine.execRunDirectory(id),
            ticket: launch == nil ? nil : engine.attachments.expect(containerID: id))
        options.recordsEvents = false
        let attach = options
        let actor = ContainerEvents.Actor(prepared.container)
        let failure = prepared.failure
        let multiplexed = !config.tty && request.version >= ContainerStreamHandlers.multiplexedFrom
        return .hijack(Hijack(multiplexed: multiplexed) {
            ExecSession(inner: AttachSession(options: attach, engine: engine, actor: actor), launch: launch,
                        failure: failure, engine: engine, execID: id, tty: config.tty)
        })
    }

    // MARK: - POST /exec/{id}/resize

    @Sendable static func execResize(_ request: Request, _ engine: Engine) throws -> Response {
        let height = try ContainerStreamHandlers.dimension(request, "h", "height")
        let width = try ContainerStreamHandlers.dimension(request, "w", "width")
        try engine.resizeExec(request.parameters["id"] ?? "", rows: height, columns: width)
        return Response(status: .ok)
    }

    // MARK: - GET /exec/{id}/json

    @Sendable static func execInspect(_ request: Request, _ engine: Engine) throws -> Response {
        .json(try engine.inspectExec(request.parameters["id"] ?? ""))
    }
}
