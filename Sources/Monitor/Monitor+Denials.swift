import CRelay
import MonitorProtocol
import Platform
import Runtime
import Store
import OCI

#if canImport(Glibc)
import Glibc
#endif

/// Explained denials (docs/denials.md): the run's seccomp listener goes to the relay loop with
/// the original program and the table of reasons; at the run's end its records become events.
extension Monitor {
    /// Events for one run's records at most (the records themselves are bounded by the relay).
    static let denialEventsPerRun = 16

    /// Hands the created process's listener to the relay loop (after `relay_close_run`). The
    /// program and the table go to the run directory, where skiff-relay reads them too.
    func prepareDenials(listener: Int32, program: [UInt8]) {
        let paths = options.paths
        var table = ""
        if let reasons = DenialReasons.read(bundle: options.bundle) {
            table = reasons.relayTable(names: Monitor.syscallNames)
        }
        do {
            try FileSystem.writeAtomically(paths.seccompProgram, program, mode: 0o600, durable: false)
            try FileSystem.writeAtomically(paths.denialReasonsTable, Array(table.utf8), mode: 0o600, durable: false)
        } catch {
            // The listener stays open and answered with the errno the program returns: without
            // the file, skiff-relay could not, so this process relays the run itself.
            printDiagnostic("explained denials: \(error)")
        }
        if relay_notify_configure(loop, listener, options.runDirectory) != 0 {
            printDiagnostic("explained denials: \(paths.seccompProgram): \(String(cString: strerror(errno)))")
        }
    }

    /// The execs' listeners this process adopted (`notify` control lines, docs/denials.md),
    /// for skiff-relay to take over with the run's own.
    func adoptedExecListeners() -> [(fd: Int32, id: String, privileged: Bool)] {
        (0..<loop.pointee.notify.exec_count).compactMap { i in
            let fd = relay_notify_exec_fd(loop, i)
            guard fd >= 0, let id = relay_notify_exec_id(loop, i) else { return nil }
            return (fd, String(cString: id), relay_notify_exec_privileged(loop, i))
        }
    }

    /// The native syscall names, read once per process.
    nonisolated(unsafe) static var namesRead: [Int32: String]?
    static var syscallNames: [Int32: String] {
        if let namesRead { return namesRead }
        let names = Seccomp.nativeSyscallNames()
        namesRead = names
        return names
    }

    /// The records not yet sent as events (after `denials.evented`'s offset), as `denied`
    /// events with the syscall and the reason in their attributes.
    func recordDenialEvents(_ store: Store, _ record: ContainerRecord) throws {
        let paths = options.paths
        guard let bytes = try? FileSystem.readFile(paths.denialRecords, limit: 1 << 20), !bytes.isEmpty else { return }
        let evented = options.runDirectory + "/" + DenialRecord.eventedName
        let offset = (try? FileSystem.readFile(evented, limit: 64)).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
        guard offset < bytes.count else { return }
        let fresh = String(decoding: bytes[offset...], as: UTF8.self)
        try? FileSystem.writeAtomically(evented, Array(String(bytes.count).utf8), mode: 0o600, durable: false)
        let reasons = DenialReasons.read(bundle: options.bundle)
        // An exec's records are its supervisor's to send (with its id), when the exec ends.
        let own = DenialRecord.parse(Substring(fresh)).records.filter { $0.execID == nil }
        for denial in own.prefix(Monitor.denialEventsPerRun) {
            try store.addEvent(type: "container", action: "denied", actorID: options.id,
                               attributes: attributes(record, Monitor.deniedAttributes(denial, reasons: reasons)))
        }
    }

    /// A `denied` event's own attributes: the syscall, errno, pid and the reason's.
    static func deniedAttributes(_ denial: DenialRecord, reasons: DenialReasons?) -> [String: String] {
        let name = Seccomp.syscallName(denial.number, architecture: denial.architecture) ?? "syscall \(denial.number)"
        var extra = ["syscall": name, "errno": DenialText.errnoName(denial.errno), "pid": String(denial.pid)]
        if var reason = reasons?.reason(for: name) {
            if denial.privileged { reason = reason.forPrivilegedExec() }
            extra["reason"] = reason.kind.rawValue
            extra["setting"] = reason.setting
            extra["origin"] = reason.origin
            extra["explanation"] = reason.text
            if let capability = reason.capability { extra["capability"] = capability }
        }
        return extra
    }

    func printDiagnostic(_ text: String) {
        let line = "skiff-monitor: \(options.id.prefix(12)): \(text)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

/// Learning a profile (`--security-opt seccomp-learn=FILE`): when a run ends, the syscalls the
/// relay noted become a profile in containers.conf's seccomp.json format, with the built-in
/// default profile's default action and architectures, allowing exactly those syscalls.
extension Monitor {
    func writeLearnedProfile() {
        // Only a learning run has the file (the relay makes it at the first syscall): no other
        // run pays for reading denials.json here.
        let file = options.runDirectory + "/learned"
        guard access(file, F_OK) == 0 else { return }
        guard let reasons = DenialReasons.read(bundle: options.bundle), let path = reasons.learn else { return }
        let text = (try? FileSystem.readFile(file, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        // What the learning filter lets through unnoted (the runtime's own last calls).
        var names = Set(Seccomp.learningPassThrough)
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let arch = UInt32(fields[0], radix: 16), let nr = Int32(fields[1]),
                  let name = Seccomp.syscallName(nr, architecture: arch) else { continue }
            names.insert(name)
        }
        let base: SeccompProfile
        do {
            base = try DefaultSeccompProfile.profile()
        } catch {
            printDiagnostic("learned profile \(path): the built-in profile: \(error)")
            return
        }
        var top: [JSON.Member] = [JSON.Member("defaultAction", .string(base.defaultAction.rawValue))]
        if let errno = base.defaultErrnoRet { top.append(JSON.Member("defaultErrnoRet", .int(Int64(errno)))) }
        top.append(JSON.Member("archMap", .array(base.archMap.map { entry in
            .object([JSON.Member("architecture", .string(entry.architecture)),
                     JSON.Member("subArchitectures", JSON(entry.subArchitectures))])
        })))
        top.append(JSON.Member("syscalls", .array([.object([
            JSON.Member("names", JSON(names.sorted())),
            JSON.Member("action", .string("SCMP_ACT_ALLOW")),
            JSON.Member("comment", .string("learned by Skiff from container \(reasons.container)")),
        ])])))
        var bytes = JSON.object(top).bytes
        bytes.append(0x0A)
        do {
            try FileSystem.writeAtomically(path, bytes, mode: 0o644, durable: true)
        } catch {
            printDiagnostic("learned profile \(path): \(error)")
        }
    }
}
