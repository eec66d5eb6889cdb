import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// How long the listening socket waits before accepting again after accept failed (issue 12
/// item 5). Out of descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), the pending
/// connection stays in the backlog and the socket stays readable: accepting again at once
/// would spin a core. Waits grow from 5 ms, doubling, to 1 s (Go's net/http does the same),
/// and start over after a quiet second. Every new run of failures is reported on stderr once.
/// One per listening socket; used on its event loop only.
final class AcceptBackoff {
    static let first: Int64 = 5
    static let longest: Int64 = 1000

    private var delay: Int64 = 0
    private var lastFailure: NIODeadline?

    /// The handler to put first in the listening channel's pipeline.
    static func handler() -> AcceptBackoffHandler {
        let backoff = AcceptBackoff()
        return AcceptBackoffHandler(shouldForwardIOErrorCaught: false) { backoff.next(after: $0) }
    }

    /// The wait after `error`.
    func next(after error: IOError) -> TimeAmount? {
        let now = NIODeadline.now()
        if let last = lastFailure, now - last < .milliseconds(delay + 1000) {
            delay = min(delay * 2, Self.longest)
        } else {
            delay = Self.first
            let line = "skiff service: accept: \(String(cString: strerror(error.errnoCode))); "
                + "accepting again after a pause\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        lastFailure = now
        return .milliseconds(delay)
    }
}
