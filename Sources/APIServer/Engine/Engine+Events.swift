import Store

/// Reading the events table (`GET /events`, `EventHandlers`): every process that acts records
/// there (the service, monitors).
extension Engine {
    /// The sequence number of the newest event recorded (0: none).
    func newestEventSeq() throws -> Int64 {
        try withStore { try $0.lastEventSeq() }
    }

    /// Up to `limit` events after sequence number `after`, oldest first; with `since` and
    /// `until` (nanoseconds since the epoch) only those recorded in that window.
    func events(after: Int64, since: Int64? = nil, until: Int64? = nil, limit: Int) throws -> [EventRecord] {
        try withStore { try $0.events(after: after, since: since, until: until, limit: limit) }
    }
}
