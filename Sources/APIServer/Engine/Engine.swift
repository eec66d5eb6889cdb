import CLinux
import Config
import Platform
import Store
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What handlers work with: the effective configuration, the Store (opened on first use, so a
/// `/_ping` after socket activation never waits for SQLite), and facts about the host.
public final class Engine: Sendable {
    public static let name = "Skiff"
    public static let version = "0.1.0"

    public let config: EngineConfig
    /// The Store is one SQLite connection (opened without SQLite's own mutex): its slot's lock
    /// serializes every use of it.
    private let storeSlot = StoreSlot()
    /// Read-only Store connections for answers on the event loops (`withStoreIfFree`): as many
    /// as the service has event loops, so two loops never wait for each other's reads.
    private let readers = [ReaderSlot(), ReaderSlot()]
    private let host = Mutex<HostInfo?>(nil)
    /// Threads for requests that mostly wait (container wait, stop, start): many may be in
    /// flight at once (every `docker run` holds a wait). Started on first use.
    let longPool = BlockingPool(threads: 32)
    /// The service is shutting down: requests that wait give up.
    let stopping = Mutex(false)
    var isStopping: Bool { stopping.withLock { $0 } }
    /// Attach sessions waiting for their container's start (`AttachRegistry`).
    public let attachments = AttachRegistry()
    /// Waits to wake when this service starts or removes a container.
    let containerSignals = ContainerSignals()
    /// One start of a container at a time.
    let startGate = ContainerStartGate()
    /// Monitors spawned at create for the start that follows (`docker run --rm`).
    let preparedStarts = PreparedStarts()
    /// A monitor spawned ahead of the next container.
    let warmMonitors = WarmMonitors()

    public init(config: EngineConfig) {
        self.config = config
    }

    /// Runs `body` with the Store, opening it first if needed. Calls are serialized: one SQLite
    /// connection per service process.
    public func withStore<T>(_ body: (Store) throws -> T) throws -> T {
        storeSlot.lock()
        defer { storeSlot.unlock() }
        if storeSlot.store == nil {
            storeSlot.store = try Store(root: config.skiffRoot)
            storeSlot.markOpen()
        }
        return try body(storeSlot.store!)
    }

    /// Runs `body` with a Store connection only when that needs no wait, so that an event loop
    /// may call it: a read-only connection of the event loops' own (`readers`: one per event
    /// loop, opened on first use once the service's Store is open, so migrations have run), or
    /// else the service's Store when no other request holds it; and SQLite meets no other
    /// process's lock (it fails at once instead of waiting). Nil otherwise, and then `body` may
    /// have run part way: it must only read. A reader sees the last committed state (WAL): a
    /// write in progress on the service's connection is not in it yet, as with another process.
    ///
    /// An event loop's reader also keeps what it read between requests (`QuickReadMemory`),
    /// under the Store's change token taken before the read: `kept` answers from the memory
    /// when what it holds was read under the token there is now (nil: read), `read` reads, and
    /// `keep` remembers a read that met no lock, with that token. The service's own connection
    /// keeps nothing.
    func withStoreIfFree<T>(kept: (WALToken, QuickReadMemory) -> T? = { _, _ in nil }, read body: (Store) throws -> T,
                            keep: (WALToken, QuickReadMemory, T) -> Void = { _, _, _ in }) throws -> T? {
        if storeSlot.isOpen {
            for reader in readers where reader.tryLock() {
                defer { reader.unlock() }
                if reader.store == nil { reader.store = try? Store(root: config.skiffRoot, readOnly: true) }
                guard let store = reader.store else { break }
                let token = store.changeToken()
                if let token, let answer = kept(token, reader.memory) { return answer }
                guard let answer = try store.database.withoutWaiting({ try body(store) }) else { return nil }
                if let token { keep(token, reader.memory, answer) }
                return answer
            }
        }
        guard storeSlot.tryLockQuickly() else { return nil }
        defer { storeSlot.unlockQuick() }
        guard let store = storeSlot.store else { return nil }
        return try store.database.withoutWaiting { try body(store) }
    }

    var hostInfo: HostInfo {
        host.withLock { info in
            if let info { return info }
            let read = HostInfo.read()
            info = read
            return read
        }
    }

    var isRootless: Bool { getuid() != 0 }

    /// A program installed beside this executable (`skiff-image`, `skiff-monitor`).
    static func executableBeside(_ name: String) -> String { SelfExecutable.beside(name) }

    /// An unnamed temporary file for a spooled request body, in `<skiff root>/tmp` (on the
    /// storage file system: an archive's size is bounded by the disk, not by memory).
    func spoolFile() throws -> SpooledBody {
        let directory = config.skiffRoot + "/tmp"
        do {
            try FileSystem.makeDirectories(directory, mode: 0o700)
        } catch {
            throw EngineError(.internal, "spooling the request body: \(error)")
        }
        let fd = skiff_open_tmpfile(directory)
        guard fd >= 0 else {
            throw EngineError(.internal,
                           "spooling the request body: open \(directory): \(String(cString: strerror(errno)))")
        }
        return SpooledBody(fd: fd)
    }
}

/// One read-only Store connection for an event loop's quick reads, under a lock that is only
/// ever tried (an event loop never waits for it), and what those reads keep.
private final class ReaderSlot: @unchecked Sendable {
    var store: Store?
    let memory = QuickReadMemory()
    private let mutex = PosixMutex()

    func tryLock() -> Bool { mutex.tryLock() }
    func unlock() { mutex.unlock() }
}

/// Holds the Store, with the lock that serializes its use: `store` is only touched with it held.
/// A `PosixMutex`, for `tryLock` (NIOLock has none).
private final class StoreSlot: @unchecked Sendable {
    var store: Store?
    /// Set once `store` is open (its migrations have run): readers may open then.
    private let opened = Atomic<Bool>(false)
    var isOpen: Bool { opened.load(ordering: .acquiring) }
    func markOpen() { opened.store(true, ordering: .releasing) }
    private let mutex = PosixMutex()

    /// Set while an event loop's quick read holds the lock (`tryLockQuickly`).
    private let quickHolder = Atomic<Bool>(false)
    /// How long `tryLockQuickly` waits for another quick read, nanoseconds.
    static let quickWaitNanos: UInt64 = 200_000
    /// Turns of the spin between readings of the clock.
    static let clockEvery = 32
    /// Turns of the spin made whatever the flag says (a few microseconds at most).
    static let graceTurns = 64

    func lock() { mutex.lock() }
    func unlock() { mutex.unlock() }

    /// Takes the lock without blocking: at once when it is free, or after a short spin while
    /// another event loop's quick read holds it (those let go within microseconds; giving way to
    /// the pool would cost more). False when anything else holds it, or after `quickWaitNanos`.
    func tryLockQuickly() -> Bool {
        var deadline: UInt64 = 0
        var turns = 0
        while !mutex.tryLock() {
            turns &+= 1
            // A quick holder sets its flag just after taking the lock and clears it just before
            // letting go: the first `graceTurns` cover those moments, in which the flag says "not
            // a quick read". (Giving up then sent the list to the pool, where it held the lock
            // while the next quick lists looked, and they went to the pool too.)
            guard quickHolder.load(ordering: .relaxed) || turns <= StoreSlot.graceTurns else { return false }
            // The clock is read every `clockEvery` turns, not on each (it was a share of the spin).
            guard turns % StoreSlot.clockEvery == 0 else { continue }
            let now = StoreSlot.monotonicNanos()
            if deadline == 0 {
                deadline = now + StoreSlot.quickWaitNanos
            } else if now > deadline {
                return false
            }
        }
        quickHolder.store(true, ordering: .relaxed)
        return true
    }

    func unlockQuick() {
        quickHolder.store(false, ordering: .relaxed)
        mutex.unlock()
    }

    private static func monotonicNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
