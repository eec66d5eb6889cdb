#if canImport(Glibc)
import Glibc
#endif

/// One contiguous id mapping, as in OCI `linux.uidMappings` and `/proc/PID/uid_map`.
public struct IDMapping: Sendable, Equatable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32

    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.size = size
    }
}

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

extension [IDMapping] {
    /// The arguments `newuidmap PID` / `newgidmap PID` take after the pid.
    public var helperArguments: [String] {
        flatMap { [String($0.containerID), String($0.hostID), String($0.size)] }
    }

    /// The text written to `/proc/PID/uid_map` directly (root, or a single own-id map).
    public var procText: String {
        map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
    }

    /// The host id that `containerID` maps to, if any.
    public func hostID(for containerID: UInt32) -> UInt32? {
        for m in self where containerID >= m.containerID && containerID - m.containerID < m.size {
            return m.hostID + (containerID - m.containerID)
        }
        return nil
    }
}
