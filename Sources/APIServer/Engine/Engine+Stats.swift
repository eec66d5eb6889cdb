import Platform
import Store

/// `GET /containers/{id}/stats`: readings of a container's resource use (`ResourceReader`), as
/// moby gives them: a stream of one document per second (the first without precpu_stats), or
/// with `stream=false` the second of two readings a second apart (so that precpu_stats is
/// set), or with `one-shot` a single reading. A container that does not run answers one
/// document of zeros with its name and id.
extension Engine {
    /// The container's stats source, found by name or id.
    func containerStats(id: String) throws -> ContainerStatsSource {
        let record = try currentContainer(id)
        return ContainerStatsSource(record: record, hostMemory: UInt64(max(0, hostInfo.memoryTotal)), engine: self)
    }
}

/// What a stats response reads from: the container's row as found, its reader and the last
/// reading. Steps of one response never overlap (`Poll`), so it needs no lock.
final class ContainerStatsSource: @unchecked Sendable {
    let record: ContainerRecord
    private let reader: ResourceReader
    private let engine: Engine
    private var previous: ResourceSample?
    private(set) var ended = false
    /// stream=false has its first reading.
    private(set) var primed = false

    init(record: ContainerRecord, hostMemory: UInt64, engine: Engine) {
        self.record = record
        self.reader = ResourceReader(hostMemory: hostMemory)
        self.engine = engine
        ended = !ContainerStatsSource.runs(record)
    }

    /// Docker counts a paused container as running; a restarting one gets zeros.
    static func runs(_ record: ContainerRecord) -> Bool {
        (record.state == .running || record.state == .paused) && record.pid > 0
    }

    /// A new reading; nil once the container no longer runs (its process is gone, or another
    /// process now has its pid: the row no longer names it).
    func read() -> ResourceSample? {
        guard !ended, let sample = reader.sample(pid: record.pid, monitorPID: record.monitorPID) else {
            ended = true
            return nil
        }
        if let current = try? engine.withStore({ try $0.container(id: record.id) }),
           !ContainerStatsSource.runs(current) || current.pid != record.pid {
            ended = true
            return nil
        }
        return sample
    }

    /// The document for `sample` (zeros when nil), with the previous reading as precpu_stats;
    /// the reading becomes the previous one.
    func document(_ sample: ResourceSample?) -> [UInt8] {
        let json = (sample ?? ResourceSample()).json(previous: sample == nil ? nil : previous,
                                                     name: "/" + record.name, id: record.id)
        if let sample { previous = sample }
        var bytes = json.bytes
        bytes.append(0x0A)
        return bytes
    }

    /// Keeps `sample` as the previous reading without sending it (stream=false's first reading).
    func prime(_ sample: ResourceSample) {
        previous = sample
        primed = true
    }
}
