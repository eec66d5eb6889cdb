#if canImport(Glibc)
import Glibc
#endif

/// How long the service waits for a client and how many connections it holds (issue 12 item 6):
/// a connection that sends half a request head, or none, must not hold a descriptor forever, nor
/// crowd out a new client. containers.conf has no such keys; they are `skiff service` flags
/// with environment equivalents (docs/containers.md, "The API socket under load").
public struct ConnectionLimits: Sendable, Equatable {
    /// Seconds for a request head to arrive in full, counted from the connection's accept, or
    /// from the first byte of a later request on a kept-alive connection (Go's
    /// ReadHeaderTimeout); 0 = no limit. `--header-timeout`, `SKIFF_HEADER_TIMEOUT`.
    public var headerTimeout: Int
    /// Seconds a kept-alive connection may wait, after a response, for the next request's
    /// first byte (Go's IdleTimeout); 0 = no limit. `--keepalive-timeout`,
    /// `SKIFF_KEEPALIVE_TIMEOUT`.
    public var keepAliveTimeout: Int
    /// Connections held at once; nil: half of the descriptor limit (`defaultMaxConnections`).
    /// At the cap a new connection replaces the one that has waited longest for a request;
    /// when every connection is busy (requests, streams, attach), the new one is answered 503.
    /// `--max-connections`, `SKIFF_MAX_CONNECTIONS`.
    public var maxConnections: Int?

    /// dockerd waits 5 minutes for a head, Podman's service 20 seconds.
    public static let defaultHeaderTimeout = 30
    /// Longer than the idle timeout of Go's default HTTP client transport (90 s), so a docker
    /// client closes an idle connection before the service does.
    public static let defaultKeepAliveTimeout = 120

    public static let flags = ["--header-timeout", "--keepalive-timeout", "--max-connections"]
    static let variables = ["--header-timeout": "SKIFF_HEADER_TIMEOUT",
                            "--keepalive-timeout": "SKIFF_KEEPALIVE_TIMEOUT",
                            "--max-connections": "SKIFF_MAX_CONNECTIONS"]

    public init(headerTimeout: Int = ConnectionLimits.defaultHeaderTimeout,
                keepAliveTimeout: Int = ConnectionLimits.defaultKeepAliveTimeout, maxConnections: Int? = nil) {
        self.headerTimeout = headerTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.maxConnections = maxConnections
    }

    /// The limits from `options` (a flag's value) or else `environment`, else the defaults.
    /// A value that is not a whole number of seconds (0 or more; a cap of 1 or more) is refused,
    /// naming the flag or variable.
    public static func resolve(options: [String: String],
                               environment: (String) -> String? = { getenv($0).map { String(cString: $0) } })
        throws -> ConnectionLimits {
        func value(_ flag: String, minimum: Int) throws -> Int? {
            let variable = variables[flag] ?? flag
            let (source, text): (String, String)
            if let given = options[flag] {
                (source, text) = (flag, given)
            } else if let given = environment(variable), !given.isEmpty {
                (source, text) = (variable, given)
            } else {
                return nil
            }
            guard let number = Int(text), number >= minimum else {
                throw ServiceError("\(source) must be a whole number, at least \(minimum); got '\(text)'")
            }
            return number
        }
        var limits = ConnectionLimits()
        if let seconds = try value("--header-timeout", minimum: 0) { limits.headerTimeout = seconds }
        if let seconds = try value("--keepalive-timeout", minimum: 0) { limits.keepAliveTimeout = seconds }
        limits.maxConnections = try value("--max-connections", minimum: 1)
        return limits
    }

    /// The cap without a configured one: half the descriptors the service may open (the other
    /// half is for the streams, logs and monitors those connections use), from 16 to 16384.
    public static func defaultMaxConnections(descriptorLimit: UInt64) -> Int {
        Int(min(max(descriptorLimit / 2, 16), 16384))
    }

    /// Nanoseconds, or nil for no limit.
    var headerNanoseconds: UInt64? { headerTimeout > 0 ? UInt64(headerTimeout) * 1_000_000_000 : nil }
    var keepAliveNanoseconds: UInt64? { keepAliveTimeout > 0 ? UInt64(keepAliveTimeout) * 1_000_000_000 : nil }
}
