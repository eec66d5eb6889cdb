import Store

/// What `GET /info` reports from the Store (`SystemHandlers.systemInfo`).
extension Engine {
    /// The containers by state (every row that says running brought up to date first), the
    /// number of images, and this engine's id.
    func systemCounts() throws -> (containers: (total: Int, running: Int, paused: Int, stopped: Int), images: Int, engineID: String) {
        try withStore { store in
            try reconcileAll(store)
            return (try store.containerCounts(), try store.imageCount(), try store.engineID())
        }
    }
}
