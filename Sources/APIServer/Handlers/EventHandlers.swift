import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `GET /events` (moby's SystemEvents): newline-delimited JSON messages from the Store's
/// events table, which every process that acts writes (the service, monitors). With `since`
/// or `until` the recorded events in that window come first; then new ones as they are
/// recorded (the table is polled), until `until` passes or the client leaves. An `until` in
/// the past ends the stream after the replay.
enum EventHandlers {
    static let pollMilliseconds: Int64 = 100
    static let batch = 1000

    @Sendable static func systemEvents(_ request: Request, _ engine: Engine) throws -> Response {
        let since = try StreamTime.query(request, "since")
        let until = try StreamTime.query(request, "until")
        if let since, let until, StreamTime.isAfter(since, until) {
            throw EngineError(.invalidArgument, "`since` time (\(request.queryValue("since") ?? "")) cannot be after `until` time (\(request.queryValue("until") ?? ""))")
        }
        let filter = try EventFilter(request.queryValue("filters"))
        let sinceNanos = since.map(StreamTime.nanoseconds)
        let untilNanos = until.map(StreamTime.nanoseconds)
        let onlyPast = untilNanos.map { $0 < StreamTime.nanoseconds(Timestamp.now()) } ?? false
        // Events recorded up to now are the replay's; later ones are streamed.
        let newest = try engine.newestEventSeq()
        let stream = EventStream(filter: filter, since: sinceNanos, until: untilNanos, onlyPast: onlyPast,
                                 newest: newest, engine: engine)
        return .poll(headers: [("Content-Type", "application/json")], every: pollMilliseconds, stream.step)
    }

    /// The steps of one `GET /events` response: the replay first, then what was recorded since.
    final class EventStream: @unchecked Sendable {
        let filter: EventFilter
        let since: Int64?
        let until: Int64?
        let onlyPast: Bool
        let engine: Engine
        /// The last event seen.
        var cursor: Int64
        var first = true

        init(filter: EventFilter, since: Int64?, until: Int64?, onlyPast: Bool, newest: Int64, engine: Engine) {
            self.filter = filter
            self.since = since
            self.until = until
            self.onlyPast = onlyPast
            self.cursor = newest
            self.engine = engine
        }

        @Sendable func step(_ writer: ResponseWriter) throws -> Bool {
            if first {
                first = false
                writer.sendHead()
                if since != nil || until != nil { try replay(writer) }
                return !onlyPast
            }
            if writer.isClientGone { return false }
            let now = StreamTime.nanoseconds(Timestamp.now())
            while true {
                let events = try engine.events(after: cursor, limit: batch)
                if let last = events.last { cursor = last.seq }
                try send(events.filter { until == nil || $0.timeNano <= until! }, filter, writer)
                if events.count < batch { break }
            }
            if let until, now > until { return false }
            return true
        }

        /// The recorded events in the window, up to the newest when the request came.
        private func replay(_ writer: ResponseWriter) throws {
            var after: Int64 = 0
            while after < cursor {
                let events = try engine.events(after: after, since: since, until: until, limit: batch)
                try send(events.filter { $0.seq <= cursor }, filter, writer)
                guard let last = events.last, events.count == batch else { break }
                after = last.seq
            }
        }
    }

    fileprivate static func send(_ events: [EventRecord], _ filter: EventFilter, _ writer: ResponseWriter) throws {
        var out: [UInt8] = []
        for event in events where filter.includes(event) {
            message(event).write(into: &out)
            out.append(0x0A)
        }
        if !out.isEmpty { try writer.write(out) }
    }

    /// moby's `events.Message`, with the deprecated `status`, `id` (container and image
    /// events) and `from` (container events: the image) first.
    static func message(_ event: EventRecord) -> JSON {
        var members: [JSON.Member] = []
        if event.type == "container" || event.type == "image" {
            members.append(JSON.Member("status", .string(event.action)))
            members.append(JSON.Member("id", .string(event.actorID)))
            if event.type == "container", let image = event.attributes.first(where: { $0.0 == "image" })?.1, !image.isEmpty {
                members.append(JSON.Member("from", .string(image)))
            }
        }
        members += [
            JSON.Member("Type", .string(event.type)),
            JSON.Member("Action", .string(event.action)),
            JSON.Member("Actor", .object([
                JSON.Member("ID", .string(event.actorID)),
                JSON.Member("Attributes", .object(event.attributes.map { JSON.Member($0.0, .string($0.1)) })),
            ])),
            JSON.Member("scope", "local"),
            JSON.Member("time", .int(event.timeNano / 1_000_000_000)),
            JSON.Member("timeNano", .int(event.timeNano)),
        ]
        return .object(members)
    }
}

/// The `filters` of `GET /events`, matched as moby's `daemon/events.Filter` does: `type`,
/// `event` (the action), `scope` exactly; `container`, `volume`, `network`, `daemon`, `plugin`,
/// `node`, `service`, `secret`, `config` as a prefix of the actor's id or `name` attribute (and
/// an event of another type never matches those); `image` exactly against the image id or name,
/// with or without its tag; `label` as `key` or `key=value` attributes. Values of one key are
/// alternatives; keys must all match. Other keys are ignored, as moby ignores them.
struct EventFilter: Sendable {
    private(set) var values: [String: [String]] = [:]

    init(_ text: String?) throws(EngineError) {
        guard let text, !text.isEmpty else { return }
        guard let json = try? JSONParser.parse(text), case .object(let members) = json else {
            throw EngineError(.invalidArgument, "invalid filter: \(text)")
        }
        for member in members {
            switch member.value {
            case .array(let list):
                for item in list {
                    guard case .string(let value) = item else { throw EngineError(.invalidArgument, "invalid filter: \(text)") }
                    values[member.key, default: []].append(value)
                }
            case .object(let set):
                for entry in set where entry.value != .bool(false) { values[member.key, default: []].append(entry.key) }
            default:
                throw EngineError(.invalidArgument, "invalid filter: \(text)")
            }
        }
    }

    static let nameTypes = ["daemon", "container", "plugin", "volume", "network", "node", "service", "secret", "config"]

    func includes(_ event: EventRecord) -> Bool {
        var attributes: [String: String] = [:]
        for (key, value) in event.attributes { attributes[key] = value }
        return includes(type: event.type, action: event.action, actorID: event.actorID, attributes: attributes)
    }

    func includes(type: String, action: String, actorID: String, attributes: [String: String]) -> Bool {
        let fuzzyActions: Set<String> = ["health_status", "exec_create", "exec_start"]
        let actionMatches = values("event").contains(where: fuzzyActions.contains)
            ? fuzzyMatch("event", action) : exactMatch("event", action)
        guard actionMatches, exactMatch("type", type) else { return false }
        if values["scope"] != nil, !exactMatch("scope", "local") { return false }
        for key in EventFilter.nameTypes {
            if !fuzzyMatch(key, actorID) && !fuzzyMatch(key, attributes["name"] ?? "") { return false }
        }
        return imageMatches(type: type, actorID: actorID, attributes: attributes) && labelsMatch(attributes)
    }

    private func values(_ key: String) -> [String] { values[key] ?? [] }

    /// No values for the key: anything matches.
    private func exactMatch(_ key: String, _ source: String) -> Bool {
        guard let wanted = values[key], !wanted.isEmpty else { return true }
        return wanted.contains(source)
    }

    private func fuzzyMatch(_ key: String, _ source: String) -> Bool {
        if exactMatch(key, source) { return true }
        return values(key).contains { source.hasPrefix($0) }
    }

    private func imageMatches(type: String, actorID: String, attributes: [String: String]) -> Bool {
        guard let wanted = values["image"], !wanted.isEmpty else { return true }
        let name = attributes[type == "image" ? "name" : "image"] ?? ""
        let candidates = [actorID, name, EventFilter.stripTag(actorID), EventFilter.stripTag(name)]
        return candidates.contains { !$0.isEmpty && wanted.contains($0) }
    }

    /// `busybox` for `busybox:latest` and `docker.io/library/busybox:1`.
    static func stripTag(_ image: String) -> String {
        guard !image.isEmpty, let reference = try? Reference(parsing: image) else { return image }
        return reference.familiarName
    }

    private func labelsMatch(_ attributes: [String: String]) -> Bool {
        guard let wanted = values["label"], !wanted.isEmpty else { return true }
        for spec in wanted {
            let parts = spec.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let value = attributes[String(parts[0])] else { return false }
            if parts.count == 2 && value != parts[1] { return false }
        }
        return true
    }
}
