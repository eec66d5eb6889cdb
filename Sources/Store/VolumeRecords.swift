import Platform

/// A named volume: its data lives in `<skiff root>/volumes/<name>/_data`.
public struct VolumeRecord: Sendable, Equatable {
    public var name: String
    /// Unix seconds.
    public var created: Int64
    public var labels: [String: String]
    /// Made for one container (an image's VOLUME, or a `Mounts` volume without a name).
    public var anonymous: Bool
    /// The local driver's options (`type`, `o`, `device`) as `POST /volumes/create` gave them;
    /// nil for a volume a container made.
    public var options: [String: String]?
    /// The image's content at the mount point is still to be copied in: true until the first
    /// container that mounts the volume is created.
    public var copyUp: Bool

    public init(name: String, created: Int64, labels: [String: String], anonymous: Bool,
                options: [String: String]? = nil, copyUp: Bool = false) {
        self.name = name
        self.created = created
        self.labels = labels
        self.anonymous = anonymous
        self.options = options
        self.copyUp = copyUp
    }
}

extension Store {
    /// Creates the volume unless it exists; returns the row and whether it is new. A new volume
    /// waits for its first copy-up.
    @discardableResult
    public func ensureVolume(name: String, labels: [String: String] = [:], anonymous: Bool = false,
                             options: [String: String]? = nil, created: Int64) throws -> (VolumeRecord, Bool) {
        try database.transaction {
            if let existing = try volume(name: name) { return (existing, false) }
            let optionBytes = options.map { Store.stringMap($0).bytes } ?? []
            try database.query("INSERT INTO volumes (name, created, labels, anonymous, options, copy_up) VALUES (?, ?, ?, ?, ?, 1)",
                               [.text(name), .integer(created), .blob(Store.stringMap(labels).bytes),
                                .integer(anonymous ? 1 : 0), .blob(optionBytes)])
            return (VolumeRecord(name: name, created: created, labels: labels, anonymous: anonymous,
                                 options: options, copyUp: true), true)
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

    /// The containers (ids) that use a volume, running or not.
    public func volumeUsers(_ name: String) throws -> [String] {
        try database.query("SELECT container_id FROM container_volumes WHERE volume_name = ? ORDER BY container_id",
                           [.text(name)]).compactMap { $0.text(0) }
    }

    /// How many containers use each volume (volumes no container uses are absent).
    public func volumeReferenceCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try database.query("SELECT volume_name, count(*) FROM container_volumes GROUP BY volume_name", []) {
            if let name = row.text(0) { counts[name] = Int(row.int(1) ?? 0) }
        }
        return counts
    }

    /// Takes the volume's first copy-up: true once, for the first container created with it.
    public func claimCopyUp(_ name: String) throws -> Bool {
        try database.query("UPDATE volumes SET copy_up = 0 WHERE name = ? AND copy_up = 1", [.text(name)])
        return database.changes > 0
    }

    /// Removes the row; `.invalidState` while a container (running or not) uses it, with
    /// moby's message.
    public func deleteVolume(name: String) throws {
        try database.transaction {
            let users = try volumeUsers(name)
            if !users.isEmpty {
                throw StoreError(.invalidState, "remove \(name): volume is in use - [\(users.joined(separator: ", "))]")
            }
            try database.query("DELETE FROM volumes WHERE name = ?", [.text(name)])
            guard database.changes > 0 else { throw StoreError(.notFound, "get \(name): no such volume") }
        }
    }

    func volumeRecords(where filter: String, _ arguments: [SQLValue]) throws -> [VolumeRecord] {
        try database.query("SELECT name, created, labels, anonymous, options, copy_up FROM volumes \(filter) ORDER BY name", arguments)
            .compactMap { row in
                guard let name = row.text(0) else { return nil }
                var options: [String: String]?
                if case .blob(let bytes) = row.values[4], !bytes.isEmpty { options = Store.decodeStringMap(bytes) }
                var labels: [String: String] = [:]
                if case .blob(let bytes) = row.values[2] { labels = Store.decodeStringMap(bytes) }
                return VolumeRecord(name: name, created: row.int(1) ?? 0, labels: labels, anonymous: (row.int(3) ?? 0) != 0,
                                    options: options, copyUp: (row.int(5) ?? 0) != 0)
            }
    }

    static func stringMap(_ map: [String: String]) -> JSON {
        JSON.object(map.sorted { $0.key < $1.key }.map { JSON.Member($0.key, .string($0.value)) })
    }

    static func decodeStringMap(_ bytes: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        if case .object(let members)? = try? JSONParser.parse(bytes) {
            for m in members { if case .string(let v) = m.value { result[m.key] = v } }
        }
        return result
    }
}
