import CLinux
import CRelay

/// The runs this process relays itself (skiff-relay is missing, or the run ends too soon to hand
/// over): CRelay's loop, the one skiff-relay runs, over the same state (`loop`).
extension Monitor {
    /// Relays until the container's process exits; returns its wait status after its last
    /// output is relayed.
    func relayUntilExit() -> Int32 {
        if skiff_monitor_has_exited(loop.pointee.pid) != 1 {
            // Setting up (the spec, SQLite, the runtime's plan) used heap that is free now: give
            // it back before the long wait, since one monitor runs per container.
            closeStore()
            _ = skiff_malloc_trim()
        }
        return relay_run(loop)
    }

    /// Before `start`: the attach clients already queued get their mask read, so they see the
    /// first byte of output; queued control lines (an initial resize) are applied.
    func acceptQueuedClients() {
        relay_accept_queued(loop)
    }

    /// The run is over: what clients have not taken is sent (within 5 s), then every attach
    /// connection and the run's descriptors are closed.
    func finishRun() {
        relay_finish(loop)
    }
}
