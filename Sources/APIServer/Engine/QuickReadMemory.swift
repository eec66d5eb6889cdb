import Store

/// What an event loop's reader keeps between its quick reads, each under the Store's change
/// token taken before the read (`Store.changeToken`): while the token is the same, nothing was
/// committed since, by any process, and the kept answer is still the Store's. Only touched with
/// its reader's lock held.
final class QuickReadMemory {
    /// The last container list read quickly.
    var containerList: KeptContainerList?

    struct KeptContainerList {
        var token: WALToken
        var reading: Engine.ContainerListReading
        var limit: Int
        var rows: Engine.ContainerListRows
    }
}
