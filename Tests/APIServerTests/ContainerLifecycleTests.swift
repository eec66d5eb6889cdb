import MonitorProtocol
import Platform
import Store
import Testing
@testable import APIServer

#if canImport(Glibc)
import Glibc
#endif

struct ContainerLifecycleTests {
    @Test func namesFollowDockersRule() {
        for name in ["web", "/web", "a1", "my_app.v2-x", "A-b"] { #expect(ContainerLifecycle.isValidName(name), "\(name)") }
        for name in ["", "/", "a", "-web", "_x", ".x", "we b", "web/1", "wéb", "//web"] {
            #expect(!ContainerLifecycle.isValidName(name), "\(name)")
        }
    }

    /// A `removing` row's remover is at it while it is this process or another live one; a
    /// remover that is gone, a recycled pid (another start time) or none recorded: the removal
    /// was cut short, and the next removal finishes it.
    @Test func aRemovalIsInProgressOnlyWhileItsRemoverLives() throws {
        let me = ContainerLifecycle.remover
        #expect(me.pid == getpid())
        #expect(me.startTime == ProcessStat.read(getpid())?.startTime)
        #expect(ContainerLifecycle.isRemoving(me))
        #expect(!ContainerLifecycle.isRemoving(nil))
        #expect(!ContainerLifecycle.isRemoving(ContainerRemover(pid: me.pid, startTime: me.startTime &+ 1)))
        let child = try Spawn.start(["/bin/sh", "-c", "exit 0"])
        let childStart = ProcessStat.read(child)?.startTime ?? 0
        _ = Spawn.wait(child)
        #expect(!ContainerLifecycle.isRemoving(ContainerRemover(pid: child, startTime: childStart)))
        let parent = getppid()
        let parentStart = try #require(ProcessStat.read(parent)?.startTime)
        #expect(ContainerLifecycle.isRemoving(ContainerRemover(pid: parent, startTime: parentStart)))
    }

    @Test func runOptionsComeFromTheStoredConfig() throws {
        let config = """
            {"Config":{"Tty":true,"OpenStdin":true,"StdinOnce":true,"StopSignal":"SIGINT","StopTimeout":3},
             "HostConfig":{"AutoRemove":false,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}}
            """
        let record = ContainerRecord(id: String(repeating: "a", count: 64), name: "x", imageID: "sha256:" + String(repeating: "b", count: 64),
                                     imageName: "busybox", created: 0, state: .created, config: Array(config.utf8))
        let options = try StoredContainer(record)
        #expect(options.tty && options.openStdin && options.stdinOnce && !options.autoRemove)
        #expect(options.stopSignal == "SIGINT")
        #expect(options.stopTimeout == 3)
        #expect(options.restartArgument == "on-failure:2")
        var plain = record
        plain.config = Array("{}".utf8)
        let defaults = try StoredContainer(plain)
        #expect(defaults.stopSignal == "SIGTERM" && defaults.stopTimeout == 10 && defaults.restartArgument == "no")
    }

    /// A wait's eventfd is readable after a signal of its container only, once per signal.
    @Test func containerSignalsWakeTheWaitsOfOneContainer() {
        let signals = ContainerSignals()
        let a1 = signals.register("a"), a2 = signals.register("a"), b = signals.register("b")
        #expect(a1 >= 0 && a2 >= 0 && b >= 0)
        func readable(_ fd: Int32) -> Bool {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, 0) == 1
        }
        #expect(!readable(a1) && !readable(a2) && !readable(b))
        signals.signal("a")
        #expect(readable(a1) && readable(a2) && !readable(b))
        ContainerSignals.drain(a1)
        #expect(!readable(a1) && readable(a2))
        signals.unregister("a", a1)
        ContainerSignals.drain(a2)
        signals.signal("a")
        #expect(readable(a2) && !readable(b))
        signals.unregister("a", a2)
        signals.unregister("b", b)
        signals.signal("a")   // nobody waits: nothing to do
    }

    @Test func signalNamesAsDockerTakesThem() {
        #expect(SignalNames.number("SIGTERM") == 15)
        #expect(SignalNames.number("term") == 15)
        #expect(SignalNames.number("9") == 9)
        #expect(SignalNames.number("RTMIN+2") == 36)
        #expect(SignalNames.number("SIGNOPE") == nil)
        #expect(SignalNames.number("0") == nil)
        #expect(SignalNames.number("65") == nil)
    }

    @Test func processTreeFindsChildren() throws {
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("5"), nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&child, "/bin/sleep", nil, nil, argv, environ) == 0)
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        let tree = ContainerLifecycle.processTree(getpid())
        #expect(tree.first == getpid())
        #expect(tree.contains(child))
    }

    @Test func exitFileIsRead() throws {
        let path = "/tmp/skiff-exitfile-\(getpid())"
        defer { unlink(path) }
        try FileSystem.writeAtomically(path, Array(#"{"ExitCode":137,"FinishedAt":"2026-11-29T10:00:00.5Z","OOMKilled":true}"#.utf8))
        let exit = ExitFile.read(path)
        #expect(exit?.exitCode == 137)
        #expect(exit?.finishedAt == "2026-11-29T10:00:00.5Z")
        #expect(exit?.oomKilled == true)
        #expect(ExitFile.read(path + ".missing") == nil)
    }
}

struct LabelAnnotationTests {
    @Test func labelsAreRequestedUnlessDisabled() {
        let on = ContainerSpec.labelAnnotations(["a": "b"], options: ["type:x_t"], enabled: true)
        #expect(on["a"] == "b")
        #expect(on[ContainerSpec.selinuxAnnotation] == #"["type:x_t"]"#)
        #expect(ContainerSpec.labelAnnotations([:], options: ["disable"], enabled: true).isEmpty)
        #expect(ContainerSpec.labelAnnotations([:], options: [], enabled: false).isEmpty)
    }
}

struct ListEntryTests {
    @Test func splicedEntryIsTheRenderedOne() throws {
        let config = #"{"Path":"sh","Args":["-c","exit 3"],"Config":{"Labels":{"a":"b"},"Tty":false},"HostConfig":{"NetworkMode":"none"}}"#
        var record = ContainerRecord(id: String(repeating: "c", count: 64), name: "web", imageID: "sha256:" + String(repeating: "d", count: 64),
                                     imageName: "busybox", created: 1_700_000_000_000_000_000, state: .exited, config: Array(config.utf8))
        record.startedAt = "2026-11-29T10:00:00.000000000Z"
        record.finishedAt = "2026-11-29T10:00:01.000000000Z"
        record.exitCode = 3
        record.summary = try ContainerView.staticSummary(record)
        let now: Int64 = 1_764_410_500_000_000_000
        var spliced: [UInt8] = []
        #expect(ContainerView.appendSummary(record, image: "busybox", now: now, size: nil, to: &spliced))
        let rendered = try ContainerView.summary(record, image: "busybox", now: now)
        func members(_ json: JSON) -> [String: JSON] {
            guard case .object(let list) = json else { return [:] }
            return Dictionary(list.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        #expect(members(try JSONParser.parse(spliced)) == members(rendered))
        var empty = record
        empty.summary = []
        var unused: [UInt8] = []
        #expect(!ContainerView.appendSummary(empty, image: "busybox", now: now, size: nil, to: &unused))
    }
}
