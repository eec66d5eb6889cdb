#if canImport(Glibc)
import Glibc
#endif

/// The one place Skiff's Swift code retries a system call that a signal interrupted (EINTR),
/// instead of a `while ... errno == EINTR` loop at every call site.
///
///     let n = try Syscall.retrying("read", path) { read(fd, buffer, count) }
///
/// The call is a closure returning the C result; -1 is its failure, with errno set. EINTR runs
/// it again (a signal handler ran; the call did nothing); any other failure is reported:
/// - `retrying(operation, object) { ... }` throws it as a `SystemError` naming the call and the
///   object ("read /var/lib/x: Input/output error").
/// - `retrying { ... }` returns the result as it is, errno still the call's: for the callers for
///   which a failure is an answer (accept's or recv's EAGAIN, waitpid's ECHILD) or that throw
///   their own module's error.
/// - `retryingReturnedError { ... }` is for the calls that return the error number itself
///   instead of setting errno (clock_nanosleep, posix_spawn, the pthread calls).
///
/// A call whose other results are answers stays the caller's to read: poll's 0 is a timeout,
/// read's 0 the end of the file, waitpid's 0 (WNOHANG) a child still running.
public enum Syscall {
    /// Runs `call` until it does not fail with EINTR; a failure (-1) throws a `SystemError` with
    /// its errno, `operation` and `object` (a path, or what the call acted on; built only then).
    @inlinable
    public static func retrying<Result: FixedWidthInteger & SignedInteger>(
        _ operation: String, _ object: @autoclosure () -> String = "", _ call: () -> Result
    ) throws(SystemError) -> Result {
        while true {
            let result = call()
            if result != -1 { return result }
            let code = errno
            if code != EINTR { throw SystemError(errno: code, operation: operation, path: object()) }
        }
    }

    /// Runs `call` until it does not fail with EINTR and returns its last result; on another
    /// failure (-1), errno is the call's.
    @inlinable
    public static func retrying<Result: FixedWidthInteger & SignedInteger>(_ call: () -> Result) -> Result {
        while true {
            let result = call()
            if result != -1 || errno != EINTR { return result }
        }
    }

    /// Runs `call`, which returns 0 or an error number, until that number is not EINTR; returns it.
    @inlinable
    public static func retryingReturnedError(_ call: () -> Int32) -> Int32 {
        while true {
            let code = call()
            if code != EINTR { return code }
        }
    }
}
