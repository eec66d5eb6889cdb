import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The engine operations that change a container's run state, by container name or id (the
/// handlers in `ContainerLifecycleHandlers` decode the requests). The work with the monitor,
/// the runtime and the Store is `ContainerLifecycle`'s.
extension Engine {
    // MARK: - start

    /// Starts a created or exited container; `.alreadyDone` when it runs already.
    func startContainer(id: String) throws -> StateChange {
        let found = try currentContainer(id)
        // Another start of it may be under way: its outcome decides (the row is read again).
        return try startGate.withStart(of: found.id) {
            let record = try currentContainer(found.id)
            switch record.state {
            case .running, .restarting: return .alreadyDone
            case .paused: throw EngineError(.conflict, "cannot start a paused container, try unpause instead")
            case .removing: throw EngineError(.conflict, "container is marked for removal and cannot be started")
            case .dead: throw EngineError(.conflict, "cannot start a dead container")
            case .created, .exited: break
            }
            try ContainerLifecycle.startContainer(record, engine: self)
            return .changed
        }
    }

    // MARK: - stop, restart, kill

    /// Stops an active container; `.alreadyDone` when it is not running. `parameters` gets the
    /// container's stored settings (its StopSignal and StopTimeout, which a request may
    /// override) and says how to stop it.
    func stopContainer(id: String, parameters: (_ stored: StoredContainer) throws -> StopParameters) throws -> StateChange {
        let record = try currentContainer(id)
        guard record.isActive else { return .alreadyDone }
        let stop = try parameters(try StoredContainer(record))
        try ContainerLifecycle.stopContainer(record, signal: stop.signal, timeout: stop.timeout, engine: self)
        return .changed
    }

    /// Resumes a paused container, stops an active one (as `stopContainer`), starts it again
    /// and records `restart`.
    func restartContainer(id: String, parameters: (_ stored: StoredContainer) throws -> StopParameters) throws {
        let found = try currentContainer(id)
        try startGate.withStart(of: found.id) {
            var record = try currentContainer(found.id)
            if record.state == .paused { try ContainerLifecycle.resume(record, engine: self) }
            if record.isActive {
                let stop = try parameters(try StoredContainer(record))
                try ContainerLifecycle.stopContainer(record, signal: stop.signal, timeout: stop.timeout, engine: self)
                record = try currentContainer(record.id)
            }
            try ContainerLifecycle.startContainer(record, engine: self)
            try withStore { store in
                _ = try store.addEvent(type: "container", action: "restart", actorID: record.id,
                                       attributes: ContainerLifecycle.eventAttributes(record))
            }
        }
    }

    /// Sends `signalName` (a name or number, as Docker takes it) to a running container. SIGKILL
    /// or the container's stop signal marks the exit as asked for (no restart policy); after
    /// SIGKILL it returns once the monitor recorded the exit.
    func killContainer(id: String, signalName: String) throws {
        let record: ContainerRecord
        do {
            record = try currentContainer(id)
        } catch let error as StoreError where error.code == .notFound {
            throw StoreError(.notFound, "Cannot kill container: \(id): \(error.message)")
        }
        guard let signal = SignalNames.number(signalName) else {
            throw EngineError(.invalidArgument, "Invalid signal: \(signalName)")
        }
        guard record.isActive, record.pid > 0 else {
            throw EngineError(.conflict, "Cannot kill container: \(id): container \(record.id) is not running")
        }
        let ending = signal == SIGKILL || signal == SignalNames.number((try? StoredContainer(record))?.stopSignal ?? "SIGTERM")
        // Recorded first where it can be, never instead of the signal (a full disk).
        ContainerLifecycle.recordStopRequested(record, signal: signal, stopRequested: ending, engine: self)
        guard Glibc.kill(record.pid, signal) == 0 || errno == ESRCH else {
            throw EngineError(.internal, "kill \(record.id): \(String(cString: strerror(errno)))")
        }
        if ending && record.state == .paused && pausesWithFreezer {
            // As Docker: a paused container is resumed after SIGKILL or its stop signal, which a
            // frozen process gets only once thawed (cgroup v1).
            try ContainerLifecycle.resume(record, engine: self)
        }
        if signal == SIGKILL {
            // The exit is the monitor's to record; answer once it has, as Docker does.
            _ = try ContainerLifecycle.waitStopped(record, engine: self, milliseconds: 5_000)
        }
    }

    // MARK: - pause, unpause

    /// Freezes a running container (as root, its freezer cgroup through the runtime; rootless,
    /// SIGSTOP to each of its processes) and records `pause`.
    func pauseContainer(id: String) throws {
        let record = try currentContainer(id)
        if record.state == .paused { throw EngineError(.conflict, "Container \(record.id) is already paused") }
        guard record.state == .running, record.pid > 0 else {
            throw EngineError(.conflict, "container \(record.id) is not running")
        }
        // As root the runtime gave the container a freezer cgroup: it freezes it. Rootless there
        // is none (no delegated cgroup v1 hierarchy): every process of the container stops.
        if pausesWithFreezer {
            do {
                try runtime.pause(record.id)
            } catch let error as EngineError {
                throw EngineError(.internal, "Cannot pause container \(record.id): \(error.message)")
            }
        } else {
            ContainerLifecycle.signalTree(record.pid, SIGSTOP)
        }
        try withStore { store in
            _ = try store.updateContainer(record.id) { row in if row.state == .running { row.state = .paused } }
            _ = try store.addEvent(type: "container", action: "pause", actorID: record.id,
                                   attributes: ContainerLifecycle.eventAttributes(record))
        }
    }

    /// Thaws a paused container and records `unpause`.
    func unpauseContainer(id: String) throws {
        let record = try currentContainer(id)
        // moby answers this with a plain error, 500; a wrong state is the client's to fix: 409,
        // as pause of a paused one (and as Podman). No request may end in a 5xx (test_fuzz.py).
        guard record.state == .paused else { throw EngineError(.conflict, "Container \(record.id) is not paused") }
        try ContainerLifecycle.resume(record, engine: self)
        try withStore { store in
            _ = try store.addEvent(type: "container", action: "unpause", actorID: record.id,
                                   attributes: ContainerLifecycle.eventAttributes(record))
        }
    }

    // MARK: - rename (top: Engine+Top.swift)

    /// Gives a container a new name (Docker's rule, an optional leading `/`) and records `rename`.
    func renameContainer(id: String, to newName: String) throws {
        let record = try currentContainer(id)
        guard !newName.isEmpty else {
            throw EngineError(.invalidArgument, "Neither old nor new names may be empty")
        }
        var name = newName
        guard ContainerLifecycle.isValidName(name) else {
            let shown = name.hasPrefix("/") ? name : "/" + name
            throw EngineError(.invalidArgument, "Error when allocating new name: Invalid container name (\(shown)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        if name.hasPrefix("/") { name.removeFirst() }
        guard name != record.name else {
            throw EngineError(.invalidArgument, "Renaming a container with the same name as its current name")
        }
        try withStore { store in
            do {
                _ = try store.updateContainer(record.id) { $0.name = name }
            } catch let error as StoreError where error.code == .exists {
                throw StoreError(.exists, "Error when allocating new name: " + error.message)
            }
            _ = try store.addEvent(type: "container", action: "rename", actorID: record.id,
                                   attributes: ContainerLifecycle.eventAttributes(record).merging(["name": name, "oldName": "/" + record.name]) { $1 })
        }
    }

    // MARK: - remove, prune

    /// Removes a container; an active one only with `force` (killed first). `volumes`: its
    /// anonymous volumes too.
    func removeContainer(id: String, force: Bool, volumes: Bool) throws {
        let record = try currentContainer(id)
        if record.isActive {
            guard force else {
                throw EngineError(.conflict, "cannot remove container \"/\(record.name)\": container is \(record.state == .paused ? "paused" : "running"): stop the container before removing or force remove")
            }
            try ContainerLifecycle.stopContainer(record, signal: SIGKILL, timeout: 0, engine: self)
        }
        guard let current = try withStore({ store in try store.container(id: record.id).map { try reconcile($0, store: store) } }) else {
            return   // removed meanwhile (AutoRemove)
        }
        try ContainerLifecycle.removeContainer(current, engine: self, volumes: volumes)
    }

    /// Removes every stopped container created before `until` (seconds since the epoch) whose
    /// labels `matches` accepts; returns the ids removed. One that cannot be removed is left, as
    /// is one that another removal is at (a removal cut short is finished).
    func pruneContainers(until: Int64?, matches: (_ labels: [String: String]) -> Bool) throws -> [String] {
        var deleted: [String] = []
        let records = try withStore { store in try store.containers().map { try reconcile($0, store: store) } }
        for record in records where !record.isActive {
            if let until, record.created / 1_000_000_000 >= until { continue }
            guard matches(record.labels) else { continue }
            do {
                try ContainerLifecycle.removeContainer(record, engine: self, volumes: false)
                deleted.append(record.id)
            } catch {
                continue
            }
        }
        return deleted
    }

    // MARK: - wait

    /// Blocks until `condition` holds for the container `record` names; returns its exit code
    /// and error (`ContainerWaiter`). `abandoned`: the client left or the service stops.
    func waitContainer(_ record: ContainerRecord, condition: WaitCondition,
                       abandoned: () -> Bool) throws -> (exitCode: Int32, error: String?) {
        try ContainerWaiter.wait(record, condition: condition.rawValue, engine: self, abandoned: abandoned)
    }
}
