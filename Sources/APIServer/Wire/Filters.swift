#if canImport(Glibc)
import Glibc
#endif
import Images
import Platform
import Store

/// The `filters` query parameter: `{"key": ["value", ...]}` or the older `{"key": {"value": true}}`.
struct Filters {
    private var entries: [String: [String]] = [:]

    init(_ text: String?, allowed: Set<String>) throws {
        guard let text, !text.isEmpty else { return }
        guard let json = try? JSONParser.parse(text), case .object(let members) = json else {
            throw EngineError(.invalidArgument, "invalid filter")
        }
        for member in members {
            guard allowed.contains(member.key) else { throw EngineError(.invalidArgument, "invalid filter '\(member.key)'") }
            switch member.value {
            case .array(let values):
                for value in values {
                    guard case .string(let s) = value else { throw EngineError(.invalidArgument, "invalid filter") }
                    entries[member.key, default: []].append(s)
                }
            case .object(let set):
                entries[member.key, default: []] += set.map(\.key)
            default:
                throw EngineError(.invalidArgument, "invalid filter")
            }
        }
    }

    func values(_ key: String) -> [String] { entries[key] ?? [] }

    /// A boolean filter (`dangling`): nil when absent.
    func bool(_ key: String) throws -> Bool? {
        guard let value = values(key).last else { return nil }
        switch value.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw EngineError(.invalidArgument, "invalid filter '\(key)=[\(values(key).joined(separator: " "))]'")
        }
    }

    /// `label=key` / `label=key=value` must all match; `label!=...` must all not.
    func labelsMatch(_ labels: [String: String]) -> Bool {
        func matches(_ spec: String) -> Bool {
            let parts = spec.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let value = labels[String(parts[0])] else { return false }
            return parts.count == 1 || value == parts[1]
        }
        return values("label").allSatisfy(matches) && !values("label!").contains(where: matches)
    }

    /// moby's reference filter: a glob against `name:tag` or against the name alone.
    static func referenceMatches(_ pattern: String, _ tag: String) -> Bool {
        if fnmatch(pattern, tag, 0) == 0 { return true }
        let name = tag.split(separator: ":").dropLast().joined(separator: ":")
        return !name.isEmpty && fnmatch(pattern, name, 0) == 0
    }

    /// `until`: unix seconds, an RFC 3339 time, or a duration before now (`10m`, `24h`).
    static func parseUntil(_ value: String) throws -> Int64 {
        if let seconds = Int64(value) { return seconds }
        if let time = Timestamp.parseRFC3339(value) { return time }
        var total: Int64 = 0
        var number: Int64 = 0
        var sawDigit = false
        for c in value {
            if let d = c.wholeNumberValue { number = number * 10 + Int64(d); sawDigit = true; continue }
            guard sawDigit else { throw EngineError(.invalidArgument, "invalid filter 'until=\(value)'") }
            switch c {
            case "h": total += number * 3600
            case "m": total += number * 60
            case "s": total += number
            default: throw EngineError(.invalidArgument, "invalid filter 'until=\(value)'")
            }
            number = 0
            sawDigit = false
        }
        guard !sawDigit, total > 0 else { throw EngineError(.invalidArgument, "invalid filter 'until=\(value)'") }
        return Int64(time(nil)) - total
    }
}
