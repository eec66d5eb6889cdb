import MonitorProtocol
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `skiff explain CONTAINER` (docs/denials.md): the refused syscalls of a container, each with
/// its reason, from the files its supervisor keeps (the records and the table of reasons in the
/// run directory, `denials.json` in the bundle) and the Store's row. Reads only: it works with
/// the service stopped or killed.
public struct DenialReport {
    public struct Entry: Sendable, Equatable {
        public var time: String
        public var syscall: String
        public var errno: String
        public var pid: Int32
        public var reason: DenialReasons.Reason?
        /// The exec whose process was refused (the first 12 characters of its id); nil: the
        /// container's own process.
        public var execID: String? = nil
        public var privileged = false
        /// The exec was a healthcheck probe's.
        public var healthcheck = false
    }

    public var container: String
    public var id: String
    public var explained: Bool
    public var entries: [Entry]
    public var dropped: Int

    /// The report of `reference` (a name, an id or a unique prefix).
    public static func load(_ reference: String, skiffRoot: String, runtimeDirectory: String) throws -> DenialReport {
        let store: Store
        do {
            store = try Store(root: skiffRoot, readOnly: true)
        } catch {
            throw EngineError(.internal, "explain \(reference): \(error)")
        }
        let record: ContainerRecord
        do {
            record = try store.resolveContainer(reference)
        } catch {
            // Removed (`--rm`): its `denied` events remain.
            if let report = try? fromEvents(reference, store: store), !report.entries.isEmpty { return report }
            throw EngineError(.notFound, "explain \(reference): \(error)")
        }
        let paths = ContainerPaths(skiffRoot: skiffRoot, runtimeDirectory: runtimeDirectory, id: record.id)
        let reasons = DenialReasons.read(bundle: paths.bundle)
        // The relay's table names the native syscalls by number.
        var names: [Int32: String] = [:]
        if let table = try? FileSystem.readFile(paths.denialReasonsTable, limit: 1 << 20) {
            for line in String(decoding: table, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
                if fields.count >= 2, let nr = Int32(fields[0]) { names[nr] = String(fields[1]) }
            }
        }
        let text = (try? FileSystem.readFile(paths.denialRecords, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let parsed = DenialRecord.parse(Substring(text))
        let probes = Set(((try? FileSystem.readFile(paths.denialProbes, limit: 1 << 16)) ?? [])
            .split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) })
        let entries = parsed.records.map { record -> Entry in
            let name = names[record.number] ?? "syscall \(record.number)"
            var reason = reasons?.reason(for: name)
            if record.privileged { reason = reason?.forPrivilegedExec() }
            return Entry(time: record.time, syscall: name, errno: DenialText.errnoName(record.errno), pid: record.pid,
                         reason: reason, execID: record.execID, privileged: record.privileged,
                         healthcheck: record.execID.map(probes.contains) ?? false)
        }
        return DenialReport(container: record.name.hasPrefix("/") ? String(record.name.dropFirst()) : record.name,
                            id: record.id, explained: reasons != nil, entries: entries, dropped: parsed.dropped)
    }

    /// A removed container's report, from the `denied` events of the last container of that
    /// name or id.
    static func fromEvents(_ reference: String, store: Store) throws -> DenialReport {
        let events = try store.events(limit: 100_000).filter { $0.type == "container" && $0.action == "denied" }
        let bare = reference.hasPrefix("/") ? String(reference.dropFirst()) : reference
        let mine = events.filter { event in
            event.actorID.hasPrefix(bare) || event.attributes.contains { $0.0 == "name" && $0.1 == bare }
        }
        guard let last = mine.last else { return DenialReport(container: bare, id: "", explained: false, entries: [], dropped: 0) }
        let entries = mine.filter { $0.actorID == last.actorID }.map { event -> Entry in
            let a = Dictionary(event.attributes, uniquingKeysWith: { _, new in new })
            var reason: DenialReasons.Reason?
            if let kind = a["reason"].flatMap(DenialReasons.Reason.Kind.init(rawValue:)), let text = a["explanation"] {
                reason = DenialReasons.Reason(kind: kind, capability: a["capability"], setting: a["setting"] ?? "",
                                              origin: a["origin"] ?? "", text: text)
            }
            let time = Timestamp.rfc3339Nano(timespec(tv_sec: Int(event.timeNano / 1_000_000_000),
                                                      tv_nsec: Int(event.timeNano % 1_000_000_000)), utc: true)
            return Entry(time: time, syscall: a["syscall"] ?? "?", errno: a["errno"] ?? "?",
                         pid: Int32(a["pid"] ?? "") ?? 0, reason: reason,
                         execID: a["execID"].map { String($0.prefix(DenialRecord.execIDLength)) },
                         privileged: a["privileged"] == "true", healthcheck: a["healthcheck"] == "true")
        }
        return DenialReport(container: bare + " (removed)", id: last.actorID, explained: true, entries: entries, dropped: 0)
    }

    /// One `denied` line per record, then what was not recorded.
    public var lines: [String] {
        var out: [String] = []
        if !explained {
            out.append("\(container): denials are not explained for this container (no seccomp profile, or explain_denials = false when it was created)")
        }
        for entry in entries {
            var line = "denied \(entry.syscall) \(entry.errno) pid \(entry.pid)"
            if let exec = entry.execID {
                line += (entry.healthcheck ? " healthcheck \(exec)" : " exec \(exec)") + (entry.privileged ? " (privileged)" : "")
            }
            line += " at \(entry.time)"
            if let reason = entry.reason {
                line += ": \(reason.text) [setting: \(reason.setting), origin: \(reason.origin)]"
            }
            out.append(line)
        }
        if dropped > 0 { out.append("\(dropped) more refused calls were not recorded (rate limit or record limit)") }
        if explained && entries.isEmpty { out.append("\(container): no denials recorded") }
        return out
    }
}
