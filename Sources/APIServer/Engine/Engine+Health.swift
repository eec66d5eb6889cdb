import Store

/// The container's healthcheck state as the API shows it (docs/healthchecks.md). The monitor and
/// its probes write it; the service only reads.
extension Engine {
    /// State.Health of the container with this full id (nil: none recorded).
    func containerHealth(_ id: String) throws -> HealthRecord? {
        try withStore { try $0.health(of: id) }
    }
}
