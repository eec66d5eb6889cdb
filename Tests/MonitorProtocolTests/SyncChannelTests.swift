import MonitorProtocol
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The two ends over a real SOCK_SEQPACKET socketpair, as the service and the monitor hold them.
@Suite struct SyncChannelTests {
    final class Pair {
        let service: ServiceChannel
        let monitor: MonitorChannel

        init() throws {
            var fds: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                throw SyncError.system(operation: "socketpair", errno: errno)
            }
            service = ServiceChannel(fd: fds[0])
            monitor = MonitorChannel(fd: fds[1])
        }

        deinit {
            service.close()
            close(monitor.fd)
        }

        /// Sends raw bytes from the monitor's end (a monitor of another build, or a broken one).
        func monitorSends(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { send(monitor.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        func serviceSends(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { send(service.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    @Test func aWarmMonitorIsCreatedAndStarted() throws {
        let pair = try Pair()
        let given = WarmArguments(diagnosticsPath: "/b/monitor.log", arguments: ["--id", "abc"])
        try pair.service.sendArguments(given)
        #expect(try pair.monitor.waitForArguments() == given)
        pair.monitor.created(pid: 1234)
        #expect(try pair.service.waitCreated(timeout: 1000) == 1234)
        // `start` goes first; the monitor's answer is already queued when start() reads.
        pair.monitor.started()
        try pair.service.start(timeout: 1000)
        try pair.monitor.waitForStart()
    }

    @Test func theMonitorsFailureIsThrownWithItsStepAndErrno() throws {
        let pair = try Pair()
        let failure = StartFailure(.exec, errno: ENOENT, "exec: \"nope\": executable file not found in $PATH")
        pair.monitor.failed(failure)
        #expect(throws: SyncError.failed(failure)) { try pair.service.waitCreated(timeout: 1000) }
    }

    @Test func aFailureAtStartIsTheAnswerToStart() throws {
        let pair = try Pair()
        pair.monitor.created(pid: 7)
        #expect(try pair.service.waitCreated(timeout: 1000) == 7)
        let failure = StartFailure(.exec, errno: ENOEXEC, "exec /bad: Exec format error")
        pair.monitor.failed(failure)
        #expect(throws: SyncError.failed(failure)) { try pair.service.start(timeout: 1000) }
    }

    @Test func outOfOrderMessagesAreErrors() throws {
        let pair = try Pair()
        pair.monitor.started()
        #expect(throws: SyncError.unexpected(expected: "created", received: "started")) {
            try pair.service.waitCreated(timeout: 1000)
        }
        pair.monitor.created(pid: 9)
        #expect(throws: SyncError.unexpected(expected: "started", received: "created")) {
            try pair.service.start(timeout: 1000)
        }
    }

    @Test func theMonitorRefusesStartBeforeItsArgumentsAndArgumentsInsteadOfStart() throws {
        let pair = try Pair()
        pair.serviceSends("start")
        #expect(throws: SyncError.unexpected(expected: "args", received: "start")) {
            try pair.monitor.waitForArguments()
        }
        try pair.service.sendArguments(WarmArguments(diagnosticsPath: "/d", arguments: ["x"]))
        #expect(throws: SyncError.unexpected(expected: "start", received: "args")) { try pair.monitor.waitForStart() }
        pair.serviceSends("begin")
        #expect(throws: SyncError.unexpected(expected: "start", received: "begin")) { try pair.monitor.waitForStart() }
    }

    @Test func unknownDatagramsAreErrors() throws {
        let pair = try Pair()
        pair.monitorSends("hello")
        #expect(throws: SyncError.unexpected(expected: "created", received: "hello")) {
            try pair.service.waitCreated(timeout: 1000)
        }
    }

    @Test func theEndAndTheTimeoutAreTheirOwnErrors() throws {
        let pair = try Pair()
        #expect(throws: SyncError.timedOut) { try pair.service.waitCreated(timeout: 10) }
        _ = shutdown(pair.monitor.fd, Int32(SHUT_WR))
        #expect(throws: SyncError.closed) { try pair.service.waitCreated(timeout: 1000) }
        pair.service.abandon(timeout: 1000)
        #expect(throws: SyncError.closed) { try pair.monitor.waitForStart() }
    }

    @Test func eachDirectionIsAChannelOfItsOwn() throws {
        let pair = try Pair()
        // The halves of each direction, as the two ends hold them.
        let toMonitor = (sender: ToMonitor.Sender(fd: pair.service.fd), receiver: ToMonitor.Receiver(fd: pair.monitor.fd))
        let toService = (sender: ToService.Sender(fd: pair.monitor.fd), receiver: ToService.Receiver(fd: pair.service.fd))
        toService.sender.created(pid: 5)
        #expect(try toService.receiver.waitCreated(timeout: 1000) == 5)
        try toMonitor.sender.start()
        try toMonitor.receiver.waitForStart()
        toService.sender.started()
        try toService.receiver.waitStarted(timeout: 1000)
        // `started` twice: the second is out of order for a service that waits for `created`.
        toService.sender.started()
        #expect(throws: SyncError.unexpected(expected: "created", received: "started")) {
            try toService.receiver.waitCreated(timeout: 1000)
        }
        toService.sender.created(pid: 6)
        #expect(throws: SyncError.unexpected(expected: "started", received: "created")) {
            try toService.receiver.waitStarted(timeout: 1000)
        }
        toMonitor.sender.end()
        #expect(throws: SyncError.closed) { try toMonitor.receiver.waitForStart() }
    }

    @Test func aMonitorWithoutASyncSocketDropsItsMessages() {
        let none = MonitorChannel(fd: -1)
        none.created(pid: 1)
        none.failed(StartFailure(.monitor, "x"))
        #expect(throws: SyncError.closed) { try none.waitForStart() }
    }
}
