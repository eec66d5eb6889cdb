import Testing
@testable import Platform

/// The D-Bus marshalling (DBusMessage): what the wire carries and that it reads back. Checked
/// against dbus-daemon and an independent reader in Tests/integration/test_cgroups_systemd.py.
struct DBusMessageTests {
    @Test func aMethodCallIsLaidOutAsTheSpecificationSays() throws {
        var hello = DBusMessage(kind: .methodCall, path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                                member: "Hello", destination: "org.freedesktop.DBus")
        hello.serial = 1
        let bytes = hello.encoded()
        // 'l', METHOD_CALL, no flags, version 1; body length 0; serial 1.
        #expect(Array(bytes[0..<12]) == [0x6c, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0])
        // The header fields array: its length, then field 1 (PATH, variant "o") 8-aligned at 16.
        let fieldsLength = Int(bytes[12]) | Int(bytes[13]) << 8
        #expect(bytes.count == 16 + (fieldsLength + 7) / 8 * 8)
        #expect(Array(bytes[16..<20]) == [1, 1, 0x6f, 0])   // code 1, signature "o" (length 1, 'o', nul)
        #expect(try DBusMessage.length(of: bytes[...]) == bytes.count)
        let back = try DBusMessage.decode(bytes)
        #expect(back == hello)
    }

    @Test func startTransientUnitRoundTrips() throws {
        let properties: [DBusValue] = [
            .structure([.string("PIDs"), .variant(.array(element: "u", [.uint32(4242)]))]),
            .structure([.string("Delegate"), .variant(.bool(true))]),
            .structure([.string("MemoryMax"), .variant(.uint64(64 << 20))]),
            .structure([.string("AllowedCPUs"), .variant(.array(element: "y", [.byte(3)]))]),
        ]
        var call = DBusMessage(kind: .methodCall, path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager",
                               member: "StartTransientUnit", destination: "org.freedesktop.systemd1",
                               body: [.string("skiff-x.scope"), .string("fail"), .array(element: "(sv)", properties),
                                      .array(element: "(sa(sv))", [])])
        call.serial = 7
        #expect(call.bodySignature == "ssa(sv)a(sa(sv))")
        let back = try DBusMessage.decode(call.encoded())
        #expect(back == call)
    }

    @Test func aReplyWithAnErrorNameAndAStringReadsBack() throws {
        var error = DBusMessage(kind: .error, body: [.string("Unit x.scope not loaded.")])
        error.errorName = "org.freedesktop.systemd1.NoSuchUnit"
        error.replySerial = 9
        error.destination = ":1.4"
        let back = try DBusMessage.decode(error.encoded())
        #expect(back.errorName == "org.freedesktop.systemd1.NoSuchUnit" && back.replySerial == 9)
        #expect(back.body == [.string("Unit x.scope not loaded.")])
    }

    @Test(arguments: [("a(sv)", "a(sv)"), ("sa(sv)", "s"), ("(sa(sv))x", "(sa(sv))"), ("a{sv}b", "a{sv}")])
    func firstCompleteType(signature: String, first: String) throws {
        #expect(try DBusReader.firstType(Substring(signature)) == Substring(first))
    }

    @Test func truncatedOrForeignInputIsRefused() {
        #expect(throws: DBusError.self) { try DBusMessage.decode([0x6c, 1, 0, 1]) }
        #expect(throws: DBusError.self) { try DBusMessage.length(of: Array(repeating: 0x42, count: 16)[...]) }
    }

    @Test(arguments: [
        ("unix:path=/run/user/1000/bus", DBusConnection.Socket.path("/run/user/1000/bus")),
        ("unix:path=/tmp/a%2cb,guid=123", .path("/tmp/a,b")),
        ("unix:abstract=/tmp/dbus-X,guid=1", .abstract("/tmp/dbus-X")),
    ])
    func busAddresses(address: String, socket: DBusConnection.Socket) {
        #expect(DBusConnection.parse(address) == socket)
    }

    @Test func theBusDependsOnWhoAsks() {
        let env = ["XDG_RUNTIME_DIR": "/run/user/1000"]
        #expect(DBusConnection.busAddress(system: false, environment: { env[$0] }) == "unix:path=/run/user/1000/bus")
        #expect(DBusConnection.busAddress(system: true, environment: { env[$0] }) == "unix:path=/run/dbus/system_bus_socket")
        #expect(DBusConnection.busAddress(system: false, environment: { ["DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"][$0] })
                == "unix:path=/x")
        #expect(DBusConnection.busAddress(system: false, environment: { _ in nil }) == nil)
    }

    @Test func noBusIsUnreachable() {
        do {
            _ = try DBusConnection(address: "unix:path=/nonexistent/skiff-bus", milliseconds: 200)
            Issue.record("connected to nothing")
        } catch {
            #expect(error.unreachable)
            #expect(error.message == "bus: connect /nonexistent/skiff-bus: No such file or directory")
        }
    }
}
