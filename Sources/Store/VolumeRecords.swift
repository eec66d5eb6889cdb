import Platform

/// A named volume: its data lives in `<skiff root>/volumes/<name>/_data`.
public struct VolumeRecord: Sendable, Equatable {
    public var name: String
    /// Unix seconds.
    public var created: Int64
    public var labels: [String: String]
    /// Made for one container (an image's VOLUME, or a `Mounts` volume without a name).
    public var anonymous: Bool
}

extension Store {
    /// Creates the volume unless it exists; returns the row and whether it is new.
    @discardableResult
    public func ensureVolume(name: String, labels: [String: String] = [:], anonymous: Bool = false,
                             created: Int64) throws -> (VolumeRecord, Bool) {
        try database.transaction {
            if let existing = try volume(name: name) { return (existing, false) }
            let json = JSON.object(labels.sorted { $0.key < $1.key }.map { JSON.Member($0.key, .string($0.value)) })
            try database.query("INSERT INTO volumes (name, created, labels, anonymous) VALUES (?, ?, ?, ?)",
                               [.text(name), .integer(created), .blob(json.bytes), .integer(anonymous ? 1 : 0)])
            return (VolumeRecord(name: name, created: created, labels: labels, anonymous: anonymous), true)
        }
    }

    public func volume(name: String) throws -> VolumeRecord? {
        try volumeRecords(where: "WHERE name = ?", [.text(name)]).first
    }

    public func volumes() throws -> [VolumeRecord] {
        try volumeRecords(where: "", [])
    }

    /// Records that `containerID` uses `volume` (kept until the container row goes).
    public func linkVolume(_ volume: String, to containerID: String) throws {
        try database.query("INSERT OR IGNORE INTO container_volumes (container_id, volume_name) VALUES (?, ?)",
                           [.text(containerID), .text(volume)])
    }

    /// The volumes a container uses.
    public func volumes(of containerID: String) throws -> [VolumeRecord] {
        try volumeRecords(where: "WHERE name IN (SELECT volume_name FROM container_volumes WHERE container_id = ?)",
                          [.text(containerID)])
    }

    /// Removes the row; `.invalidState` while a container uses it.
    public func deleteVolume(name: String) throws {
        try database.transaction {
            if let user = try database.queryScalarText("SELECT container_id FROM container_volumes WHERE volume_name = ?",
                                                       [.text(name)]) {
                throw StoreError(.invalidState, "remove \(name): volume is in use - [\(user)]")
            }
            try database.query("DELETE FROM volumes WHERE name = ?", [.text(name)])
            guard database.changes > 0 else { throw StoreError(.notFound, "get \(name): no such volume") }
        }
    }

    func volumeRecords(where filter: String, _ arguments: [SQLValue]) throws -> [VolumeRecord] {
        try database.query("SELECT name, created, labels, anonymous FROM volumes \(filter) ORDER BY name", arguments)
            .compactMap { row in
                guard let name = row.text(0) else { return nil }
                var labels: [String: String] = [:]
                if case .blob(let bytes) = row.values[2], case .object(let members)? = try? JSONParser.parse(bytes) {
                    for m in members { if case .string(let v) = m.value { labels[m.key] = v } }
                }
                return VolumeRecord(name: name, created: row.int(1) ?? 0, labels: labels, anonymous: (row.int(3) ?? 0) != 0)
            }
    }
}
