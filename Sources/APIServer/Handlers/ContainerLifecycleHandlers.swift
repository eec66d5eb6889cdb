import Platform
import Store

/// The container routes that change its run state (moby's ContainerStart, ContainerStop,
/// ContainerRestart, ContainerKill, ContainerPause, ContainerUnpause, ContainerRename,
/// ContainerTop, ContainerWait, ContainerDelete, ContainerPrune): each decodes the path and
/// query, calls its engine operation (`Engine+ContainerLifecycle.swift`) and answers with
/// Docker's status (204, 304 for a container already in that state).
enum ContainerLifecycleHandlers {
    // MARK: - POST /containers/{id}/start

    @Sendable static func containerStart(_ request: Request, _ engine: Engine) throws -> Response {
        switch try engine.startContainer(id: request.parameters["id"] ?? "") {
        case .alreadyDone: return Response(status: .notModified)
        case .changed: return Response(status: .noContent)
        }
    }

    // MARK: - POST /containers/{id}/stop, /restart, /kill

    @Sendable static func containerStop(_ request: Request, _ engine: Engine) throws -> Response {
        switch try engine.stopContainer(id: request.parameters["id"] ?? "", parameters: { try stopParameters(request, $0) }) {
        case .alreadyDone: return Response(status: .notModified)
        case .changed: return Response(status: .noContent)
        }
    }

    @Sendable static func containerRestart(_ request: Request, _ engine: Engine) throws -> Response {
        try engine.restartContainer(id: request.parameters["id"] ?? "", parameters: { try stopParameters(request, $0) })
        return Response(status: .noContent)
    }

    /// `signal` (else the container's StopSignal) and `t` (else its StopTimeout, else 10 s; -1:
    /// no limit). Read once the container is found and running, as moby reads them.
    static func stopParameters(_ request: Request, _ stored: StoredContainer) throws -> StopParameters {
        let name = request.queryValue("signal").flatMap { $0.isEmpty ? nil : $0 } ?? stored.stopSignal
        guard let signal = SignalNames.number(name) else {
            throw EngineError(.invalidArgument, "Invalid signal: \(name)")
        }
        var timeout = stored.stopTimeout
        if let t = request.queryValue("t"), !t.isEmpty {
            guard let value = Int(t) else { throw EngineError(.invalidArgument, "invalid value for t: \(t)") }
            timeout = value
        }
        return StopParameters(signal: signal, timeout: timeout)
    }

    @Sendable static func containerKill(_ request: Request, _ engine: Engine) throws -> Response {
        let signal = request.queryValue("signal").flatMap { $0.isEmpty ? nil : $0 } ?? "SIGKILL"
        try engine.killContainer(id: request.parameters["id"] ?? "", signalName: signal)
        return Response(status: .noContent)
    }

    // MARK: - POST /containers/{id}/pause, /unpause

    @Sendable static func containerPause(_ request: Request, _ engine: Engine) throws -> Response {
        try engine.pauseContainer(id: request.parameters["id"] ?? "")
        return Response(status: .noContent)
    }

    @Sendable static func containerUnpause(_ request: Request, _ engine: Engine) throws -> Response {
        try engine.unpauseContainer(id: request.parameters["id"] ?? "")
        return Response(status: .noContent)
    }

    // MARK: - POST /containers/{id}/rename, GET /containers/{id}/top

    @Sendable static func containerRename(_ request: Request, _ engine: Engine) throws -> Response {
        try engine.renameContainer(id: request.parameters["id"] ?? "", to: request.queryValue("name") ?? "")
        return Response(status: .noContent)
    }

    @Sendable static func containerTop(_ request: Request, _ engine: Engine) throws -> Response {
        let arguments = request.queryValue("ps_args").flatMap { $0.isEmpty ? nil : $0 } ?? "-ef"
        let (titles, processes) = try engine.topContainer(id: request.parameters["id"] ?? "", psArguments: arguments)
        return .json(["Titles": JSON(titles), "Processes": .array(processes.map { JSON($0) })])
    }

    // MARK: - POST /containers/{id}/wait

    /// `condition=not-running|next-exit|removed`. The head goes out at once (the docker CLI
    /// sends `/start` only after its wait is registered, and learns that from the head); the
    /// body `{"StatusCode", "Error"}` follows when the condition is met.
    @Sendable static func containerWait(_ request: Request, _ engine: Engine) throws -> Response {
        let name = request.queryValue("condition").flatMap { $0.isEmpty ? nil : $0 } ?? "not-running"
        guard let condition = WaitCondition(rawValue: name) else {
            throw EngineError(.invalidArgument, "invalid condition: \"\(name)\"")
        }
        let record = try engine.currentContainer(request.parameters["id"] ?? "")
        var response = Response(headers: [("Content-Type", "application/json")]) { writer in
            writer.sendHead()
            let (code, error) = try engine.waitContainer(record, condition: condition) {
                writer.isClientGone || engine.isStopping
            }
            var body: [JSON.Member] = [JSON.Member("StatusCode", .int(Int64(code)))]
            body.append(JSON.Member("Error", error.map { ["Message": JSON($0)] } ?? .null))
            var bytes = JSON.object(body).bytes
            bytes.append(0x0A)
            try writer.write(bytes)
        }
        response.longRunning = true
        return response
    }

    // MARK: - DELETE /containers/{id}, POST /containers/prune

    @Sendable static func containerDelete(_ request: Request, _ engine: Engine) throws -> Response {
        try engine.removeContainer(id: request.parameters["id"] ?? "", force: request.queryBool("force"),
                                   volumes: request.queryBool("v"))
        return Response(status: .noContent)
    }

    @Sendable static func containerPrune(_ request: Request, _ engine: Engine) throws -> Response {
        let filters = try Filters(request.queryValue("filters"), allowed: ["until", "label", "label!"])
        let until = try filters.values("until").first.map(Filters.parseUntil)
        let deleted = try engine.pruneContainers(until: until, matches: filters.labelsMatch)
        return .json(["ContainersDeleted": deleted.isEmpty ? .null : .array(deleted.map { JSON($0) }), "SpaceReclaimed": 0])
    }
}
