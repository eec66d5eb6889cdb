import Testing
import Runtime

struct RuntimeErrorTests {
    static let id = String(repeating: "a", count: 64)

    @Test(arguments: [
        ("create \(id): exec: \"nope\": executable file not found in $PATH", "exec: \"nope\": executable file not found in $PATH"),
        ("\(id): exec /bad: Exec format error", "exec /bad: Exec format error"),
        ("start \(id): the container process has exited", "the container process has exited"),
        ("config.json: mounts[0]: bad", "config.json: mounts[0]: bad"),
        ("create other: mount /proc: EPERM", "create other: mount /proc: EPERM"),
    ])
    func messageWithoutTheContainersContext(message: String, expected: String) {
        #expect(RuntimeError(.system, message).message(withoutContext: Self.id) == expected)
    }
}
