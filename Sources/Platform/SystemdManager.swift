/// systemd's manager (org.freedesktop.systemd1) over D-Bus, for transient scopes as Podman asks
/// for them: the user's manager on the session bus rootless, the system's on the system bus as
/// root. Each call waits for its job (the `JobRemoved` signal) and fails unless it is "done".
public final class SystemdManager {
    public static let service = "org.freedesktop.systemd1"
    static let path = "/org/freedesktop/systemd1"
    static let interface = "org.freedesktop.systemd1.Manager"

    let bus: DBusConnection
    /// How long a job may take.
    public var milliseconds: Int

    /// Connects to the bus at `address` and checks that systemd is on it; `DBusError.unreachable`
    /// when there is no bus or no systemd on it (the caller falls back to cgroupfs).
    public init(address: String, milliseconds: Int = 5000) throws(DBusError) {
        self.milliseconds = milliseconds
        bus = try DBusConnection(address: address, milliseconds: milliseconds)
        let owner = try bus.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                                 member: "NameHasOwner", body: [.string(SystemdManager.service)], milliseconds: milliseconds)
        guard owner.body.first == .bool(true) else {
            throw DBusError("no \(SystemdManager.service) on the bus at \(address)", unreachable: true)
        }
        try bus.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                     member: "AddMatch", body: [.string("type='signal',sender='\(SystemdManager.service)',"
                                                         + "interface='\(SystemdManager.interface)',member='JobRemoved'")],
                     milliseconds: milliseconds)
        try manager("Subscribe", [])
    }

    /// `StartTransientUnit(name, "fail", properties, [])`, then waits for its job.
    public func startTransientUnit(_ name: String, properties: [(String, DBusValue)]) throws(DBusError) {
        let list = DBusValue.array(element: "(sv)", properties.map { .structure([.string($0.0), .variant($0.1)]) })
        let reply = try manager("StartTransientUnit", [.string(name), .string("fail"), list, .array(element: "(sa(sv))", [])])
        try waitForJob(reply, unit: name, verb: "StartTransientUnit")
    }

    /// `StopUnit(name, "fail")`, then waits for its job. A unit systemd no longer has (a scope
    /// ends by itself once empty) counts as stopped.
    public func stopUnit(_ name: String) throws(DBusError) {
        let reply: DBusMessage
        do throws(DBusError) {
            reply = try manager("StopUnit", [.string(name), .string("fail")])
        } catch where error.name == "org.freedesktop.systemd1.NoSuchUnit" {
            return
        }
        try waitForJob(reply, unit: name, verb: "StopUnit")
    }

    @discardableResult
    private func manager(_ member: String, _ body: [DBusValue]) throws(DBusError) -> DBusMessage {
        try bus.call(destination: SystemdManager.service, path: SystemdManager.path, interface: SystemdManager.interface,
                     member: member, body: body, milliseconds: milliseconds)
    }

    private func waitForJob(_ reply: DBusMessage, unit: String, verb: String) throws(DBusError) {
        guard let job = reply.body.first?.stringValue else { throw DBusError("\(verb) \(unit): no job in systemd's reply") }
        let removed = try bus.waitForSignal(milliseconds: milliseconds, what: "the end of job \(job) (\(verb) \(unit))") {
            $0.member == "JobRemoved" && $0.body.count == 4 && $0.body[1].stringValue == job
        }
        let result = removed.body[3].stringValue ?? ""
        guard result == "done" else { throw DBusError("\(verb) \(unit): job \(job) ended \"\(result)\"") }
    }
}
