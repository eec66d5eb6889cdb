/// The process removing a container: its pid and `/proc/<pid>/stat` start time (a recycled pid
/// is never taken for it).
public struct ContainerRemover: Sendable, Equatable {
    public var pid: Int32
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }
}

extension Store {
    /// Marks the container `removing` by `remover`, in one transaction with the check: `check`
    /// sees the current row and the process recorded as removing it (nil when none is: the row
    /// is not `removing`, or an older Skiff marked it) and throws to refuse. Returns the row as
    /// `check` saw it. `.notFound` when the row is gone.
    @discardableResult
    public func markRemoving(_ id: String, by remover: ContainerRemover,
                             check: (_ row: ContainerRecord, _ remover: ContainerRemover?) throws -> Void) throws -> ContainerRecord {
        try database.transaction {
            guard let record = try container(id: id) else {
                throw StoreError(.notFound, "No such container: \(id)")
            }
            let current = record.state == .removing ? try containerRemover(id) : nil
            try check(record, current)
            try database.query("UPDATE containers SET state = ?, remover_pid = ?, remover_start = ? WHERE id = ?",
                               [.text(ContainerRecord.State.removing.rawValue), .integer(Int64(remover.pid)),
                                .integer(Int64(bitPattern: remover.startTime)), .text(id)])
            return record
        }
    }

    /// The process recorded as removing the container (the last one that marked it), nil when
    /// none is.
    public func containerRemover(_ id: String) throws -> ContainerRemover? {
        let rows = try database.query("SELECT remover_pid, remover_start FROM containers WHERE id = ?", [.text(id)])
        guard let row = rows.first, let pid = row.int(0), pid > 0, let start = row.int(1) else { return nil }
        return ContainerRemover(pid: Int32(truncatingIfNeeded: pid), startTime: UInt64(bitPattern: start))
    }
}
