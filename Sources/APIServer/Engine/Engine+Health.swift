import Store

/// The container's healthcheck state as the API shows it (docs/healthchecks.md). The monitor and
/// its probes write it; the service only reads.
extension Engine {
    /// State.Health of the container with this full id (nil: none recorded).
    func containerHealth(_ id: String) throws -> HealthRecord? {
        try withStore { try $0.health(of: id) }
    }

    /// A container that stopped without its monitor saying so (the monitor was killed): the
    /// health status it had becomes `unhealthy` (moby's status once the health monitor stops).
    func markHealthStopped(_ id: String, store: Store) throws {
        try store.updateHealth(id) { current, _ in
            current.map { HealthRecord(status: "unhealthy", failingStreak: $0.failingStreak, log: $0.log) }
        }
    }
}
