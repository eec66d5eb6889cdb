import NIOConcurrencyHelpers
import Platform
import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Starts made ready ahead of their `/start`. A container created with AutoRemove (`docker run
/// --rm`) is started right after it is created: the docker CLI only attaches and registers its
/// wait in between, some milliseconds in which nothing else happens. Its monitor is spawned
/// by the create itself, as soon as the bundle is written, and creates the container up to
/// `created` (namespaces, mounts; the program waits for `start`, as after `skiff runtime
/// create`). The `/start` that follows takes that monitor (`claim`) and only has to say `start`.
///
/// A preparation is only a head start: the row stays `created` and nothing is recorded. One
/// that no `/start` claims within `lease` is abandoned (the sync socket's end: the monitor kills
/// the waiting process and removes what it made, as for a service that went away); a removal
/// abandons it first (`cancel`); one that failed is dropped, and the `/start` runs the usual
/// way, which reports the failure as it always does. At most `limit` are prepared at a time.
final class PreparedStarts: Sendable {
    static let lease: UInt64 = 2_000_000_000
    static let limit = 4

    /// Where a preparation is. `settled`: the monitor answered (`launcher` is set when it said
    /// `created`, nil when it failed).
    enum Phase: Int {
        case preparing, settled, claimed, abandoned
    }

    final class Entry: @unchecked Sendable {
        let phase = ConditionLock(value: Phase.preparing.rawValue)
        /// Written before `settled`, read after it (the condition lock orders them).
        var launcher: MonitorLauncher?
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// Spawns the monitor of `record` (being created: its bundle is written) to create the
    /// container and wait for `start`; the answer is awaited in the background. Does nothing when
    /// `limit` preparations are going or the service stops.
    func prepare(_ record: ContainerRecord, engine: Engine) {
        let id = record.id
        let entry = Entry()
        let added = entries.withLock { table -> Bool in
            guard table.count < PreparedStarts.limit, table[id] == nil, !engine.isStopping else { return false }
            table[id] = entry
            return true
        }
        guard added else { return }
        let paths = ContainerPaths(engine: engine, id: id)
        var launcher: MonitorLauncher?
        do {
            let options = try StoredContainer(record)
            try ContainerLifecycle.makeRunDirectory(paths, engine: engine)
            launcher = try MonitorLauncher(engine: engine, record: record, options: options, paths: paths)
        } catch {
            FileSystem.removeTree(paths.run)
            settle(id, entry, nil)
            return
        }
        let spawned = launcher!
        engine.longPool.submit { [self] active in
            var created: MonitorLauncher? = spawned
            do {
                // A stopping service gives up at once (a claim waits for this to settle).
                guard active, !engine.isStopping else { throw EngineError(.unavailable, "the service stops") }
                _ = try spawned.waitCreated()
            } catch {
                // The `/start` goes the usual way, and reports this failure as it always does.
                spawned.abandon()
                created = nil
                FileSystem.removeTree(paths.run)
            }
            guard settle(id, entry, created) else { return }
            holdUntilClaimed(id, entry, engine: engine)
        }
    }

    /// Records how the preparation ended; false (and the entry gone unless a claim has it) when
    /// it failed.
    @discardableResult
    private func settle(_ id: String, _ entry: Entry, _ launcher: MonitorLauncher?) -> Bool {
        entry.phase.lock()
        entry.launcher = launcher
        entry.phase.unlock(withValue: Phase.settled.rawValue)
        if launcher == nil { forget(id, entry) }
        return launcher != nil
    }

    /// Waits for a `/start` to claim the prepared monitor; abandons it at the end of the lease,
    /// or when the service stops. Whoever takes the entry out of the table owns it: a claim or a
    /// cancel, or this at the end.
    private func holdUntilClaimed(_ id: String, _ entry: Entry, engine: Engine) {
        let deadline = Timestamp.monotonicNanos() &+ PreparedStarts.lease
        while true {
            // Sleeps 50 ms, or less when claimed.
            if entry.phase.lock(whenValue: Phase.claimed.rawValue, timeoutSeconds: 0.05) {
                entry.phase.unlock()
                return
            }
            let expired = Timestamp.monotonicNanos() >= deadline || engine.isStopping
            let outcome = entries.withLock { table -> Bool? in
                guard table[id] === entry else { return nil }   // a claim or a cancel has it
                guard expired else { return false }
                table[id] = nil
                return true
            }
            guard let mine = outcome else { return }
            guard mine else { continue }
            seize(entry, becoming: .abandoned)?.abandon()
            return
        }
    }

    /// The prepared monitor of `id` for its `/start`, once its preparation has settled; nil when
    /// there is none or it failed (the start then spawns one as usual).
    func claim(_ id: String) -> MonitorLauncher? {
        guard let entry = entries.withLock({ $0.removeValue(forKey: id) }) else { return nil }
        return seize(entry, becoming: .claimed)
    }

    /// Abandons the preparation of `id`, if any, and returns once its monitor has removed what
    /// it made (before a removal of the container).
    func cancel(_ id: String) {
        guard let entry = entries.withLock({ $0.removeValue(forKey: id) }) else { return }
        seize(entry, becoming: .abandoned)?.abandon()
    }

    /// Takes the monitor of an entry that its taker has removed from the table, once the
    /// preparation has settled (bounded by the monitor's own `waitCreated` timeout).
    private func seize(_ entry: Entry, becoming phase: Phase) -> MonitorLauncher? {
        entry.phase.lock(whenValue: Phase.settled.rawValue)
        let launcher = entry.launcher
        entry.launcher = nil
        entry.phase.unlock(withValue: phase.rawValue)
        return launcher
    }

    private func forget(_ id: String, _ entry: Entry) {
        entries.withLock { table in
            if table[id] === entry { table[id] = nil }
        }
    }
}
