import Platform

#if canImport(Glibc)
import Glibc
#endif

/// One event as `GET /events` reports it (`Type`, `Action`, `Actor.ID`, `Actor.Attributes`,
/// `timeNano`). Events are written by whichever process acted: the service for API actions, the
/// monitor for `die`, `restart` and an automatic `destroy`.
public struct EventRecord: Sendable, Equatable {
    /// Increasing; a follower reads everything after the last `seq` it saw.
    public var seq: Int64
    /// Unix nanoseconds.
    public var timeNano: Int64
    public var type: String
    public var action: String
    public var actorID: String
    /// Attribute name and value pairs, sorted by name.
    public var attributes: [(String, String)]

    public static func == (a: EventRecord, b: EventRecord) -> Bool {
        a.seq == b.seq && a.timeNano == b.timeNano && a.type == b.type && a.action == b.action
            && a.actorID == b.actorID && a.attributes.map(\.0) == b.attributes.map(\.0)
            && a.attributes.map(\.1) == b.attributes.map(\.1)
    }
}

extension Store {
    /// Events kept; older ones are dropped as new ones come (Docker keeps 256 in memory).
    public static let eventsKept: Int64 = 10_000

    /// Records an event now (or at `timeNano`); returns its `seq`.
    @discardableResult
    public func addEvent(type: String, action: String, actorID: String, attributes: [String: String] = [:],
                         timeNano: Int64? = nil) throws -> Int64 {
        let now = timeNano ?? Store.nowNanos()
        let json = JSON.object(attributes.sorted { $0.key < $1.key }.map { JSON.Member($0.key, .string($0.value)) })
        return try database.transaction {
            try database.query("INSERT INTO events (time_nano, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?)",
                               [.integer(now), .text(type), .text(action), .text(actorID), .blob(json.bytes)])
            let seq = try database.queryScalarInt("SELECT last_insert_rowid()") ?? 0
            if seq % 256 == 0 {
                try database.query("DELETE FROM events WHERE seq <= ?", [.integer(seq - Store.eventsKept)])
            }
            return seq
        }
    }

    /// Events with `seq` greater than `after`, and time within `since...until` (nanoseconds,
    /// inclusive, either may be nil), oldest first, at most `limit`.
    public func events(after: Int64 = 0, since: Int64? = nil, until: Int64? = nil, limit: Int = 10_000) throws -> [EventRecord] {
        var sql = "SELECT seq, time_nano, type, action, actor_id, attributes FROM events WHERE seq > ?"
        var arguments: [SQLValue] = [.integer(after)]
        if let since { sql += " AND time_nano >= ?"; arguments.append(.integer(since)) }
        if let until { sql += " AND time_nano <= ?"; arguments.append(.integer(until)) }
        sql += " ORDER BY seq LIMIT ?"
        arguments.append(.integer(Int64(limit)))
        return try database.query(sql, arguments).map { row in
            var attributes: [(String, String)] = []
            if case .blob(let bytes) = row.values[5], case .object(let members)? = try? JSONParser.parse(bytes) {
                for member in members {
                    if case .string(let value) = member.value { attributes.append((member.key, value)) }
                }
            }
            return EventRecord(seq: row.int(0) ?? 0, timeNano: row.int(1) ?? 0, type: row.text(2) ?? "",
                               action: row.text(3) ?? "", actorID: row.text(4) ?? "", attributes: attributes)
        }
    }

    /// The newest event's `seq` (0 when there is none).
    public func lastEventSeq() throws -> Int64 {
        try database.queryScalarInt("SELECT coalesce(max(seq), 0) FROM events") ?? 0
    }

    /// Unix nanoseconds now.
    public static func nowNanos() -> Int64 {
        let ts = Timestamp.now()
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
