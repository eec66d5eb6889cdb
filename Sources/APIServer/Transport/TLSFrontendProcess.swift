import Platform

import CLinux
import Glibc

/// The running `skiff-tls` (installed beside `skiff`): started with the listening sockets as
/// its descriptors 4…, and a control socket as 3 on which it says "ok" once it serves (or why
/// it cannot); the service keeps its end open for its whole life, so `skiff-tls` sees end of
/// file and exits whenever the service does, even on SIGKILL.
final class TLSFrontendProcess: Sendable {
    let pid: pid_t
    let control: CInt

    /// How long `skiff-tls` may take to load the certificates and serve.
    static let startLimitMilliseconds: CInt = 10_000

    private init(pid: pid_t, control: CInt) {
        self.pid = pid
        self.control = control
    }

    static func start(arguments: [String], listeners: [CInt]) throws(ServiceError) -> TLSFrontendProcess {
        var pair: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw ServiceError("start skiff-tls: socketpair: \(String(cString: strerror(errno)))")
        }
        // Copies above every target descriptor, so no dup2 in the child overwrites a source.
        var moved: [CInt] = []
        defer {
            for fd in moved { close(fd) }
            close(pair[1])
        }
        for fd in [pair[1]] + listeners {
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, CInt(64))
            guard copy >= 0 else {
                close(pair[0])
                throw ServiceError("start skiff-tls: dup descriptor \(fd): \(String(cString: strerror(errno)))")
            }
            moved.append(copy)
        }
        let program = SelfExecutable.beside("skiff-tls")
        let pid: pid_t
        do {
            pid = try Spawn.start([program] + arguments, Spawn.Options(descriptors: [0, 1, 2] + moved))
        } catch {
            close(pair[0])
            throw ServiceError("start \(program): \(error)")
        }
        let process = TLSFrontendProcess(pid: pid, control: pair[0])
        let answer = process.readAnswer()
        guard answer == "ok" else {
            process.stop()
            let reason = answer.isEmpty ? "it exited before serving" : answer
            throw ServiceError("tcp listeners: skiff-tls: \(reason)")
        }
        return process
    }

    /// The first line `skiff-tls` writes on the control socket ("" at end of file or timeout).
    private func readAnswer() -> String {
        var bytes: [UInt8] = []
        var poller = pollfd(fd: control, events: Int16(POLLIN), revents: 0)
        var chunk = [UInt8](repeating: 0, count: 512)
        while !bytes.contains(UInt8(ascii: "\n")) && bytes.count < 4096 {
            let ready = poll(&poller, 1, Self.startLimitMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return "it did not answer within \(Self.startLimitMilliseconds / 1000) s" }
            let n = read(control, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes += chunk[0..<n]
        }
        let line = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).first ?? []
        return String(decoding: line, as: UTF8.self)
    }

    /// Ends `skiff-tls` (its open connections with it) and waits for it.
    func stop() {
        _ = kill(pid, SIGTERM)
        close(control)
        _ = Spawn.wait(pid)
    }
}
