#if canImport(Glibc)
import Glibc
#endif

/// The service's descriptor limit (RLIMIT_NOFILE). The service holds a descriptor per
/// connection and per stream, so it raises its soft limit to the hard one at start, as
/// Podman's service and dockerd run with thousands. What it starts must not inherit the raised
/// limit: a container gets the limit it got before (its spec's rlimits, else the soft limit the
/// service was started with). The service keeps that original soft limit in the environment
/// (`variable`), which every child inherits, and each of Skiff's own programs the service
/// starts (skiff-monitor, skiff-runtime, skiff-image, skiff) puts it back first thing
/// (`restoreInherited`), before anything it starts in turn.
public enum FileLimit {
    /// The soft limit the service was started with, for its children.
    public static let variable = "_SKIFF_NOFILE_SOFT"

    /// The current (soft, hard) RLIMIT_NOFILE.
    public static func current() -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return (1024, 1024) }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one and records the previous soft limit for children.
    /// Returns the soft limit in force afterwards. A child started by an earlier service keeps
    /// the limit recorded then (the variable is already set: it is not overwritten).
    @discardableResult
    public static func raiseForService() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return 1024 }
        if getenv(variable) == nil {
            setenv(variable, String(UInt64(limit.rlim_cur)), 1)
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// In a program the service started: puts back the soft limit the service was started with
    /// (never above the hard limit) and removes the variable, so that nothing started from here
    /// sees it. Does nothing when the variable is not set (not started by a service).
    public static func restoreInherited() {
        guard let text = getenv(variable).map({ String(cString: $0) }) else { return }
        unsetenv(variable)
        guard let soft = UInt64(text) else { return }
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return }
        limit.rlim_cur = rlim_t(min(soft, UInt64(limit.rlim_max)))
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
    }

    /// RLIMIT_NOFILE as the type glibc's getrlimit takes.
    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
