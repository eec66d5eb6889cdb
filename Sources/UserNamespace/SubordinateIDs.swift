/// A user's subordinate id ranges from `/etc/subuid` or `/etc/subgid` (`name:start:count`, the
/// first field a user name or a numeric uid).
public struct SubordinateIDs: Sendable, Equatable {
    public struct Range: Sendable, Equatable {
        public var start: UInt32
        public var count: UInt32
    }

    public var ranges: [Range]

    /// The ranges in `text` that belong to the user `name` with id `id`. Malformed lines are
    /// skipped, as shadow-utils does.
    public static func parse(_ text: String, user name: String, id: UInt32) -> SubordinateIDs {
        var ranges: [Range] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3, let start = UInt32(fields[1]), let count = UInt32(fields[2]), count > 0,
                  fields[0] == name || fields[0] == String(id),
                  UInt64(start) + UInt64(count) <= UInt64(UInt32.max) else { continue }
            ranges.append(Range(start: start, count: count))
        }
        return SubordinateIDs(ranges: ranges)
    }

    /// The rootless map: the user's own id becomes 0, the subordinate ranges follow from 1.
    /// Without ranges, the single-id map `0 -> id`.
    public func mappings(hostID: UInt32) -> [IDMapping] {
        var result = [IDMapping(containerID: 0, hostID: hostID, size: 1)]
        var next: UInt32 = 1
        for range in ranges {
            guard UInt64(next) + UInt64(range.count) <= UInt64(UInt32.max) else { break }
            result.append(IDMapping(containerID: next, hostID: range.start, size: range.count))
            next += range.count
        }
        return result
    }
}
