import Distribution
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// A registry client for `--reference`, with credentials and transport options from the
/// command line and the environment.
extension Worker {
    /// The registry host that serves docker.io.
    static let dockerHubHost = "registry-1.docker.io"

    func client(for reference: Reference, push: Bool) throws -> RegistryClient {
        // docker.io is served by its registry host; every other domain is used as written.
        let host = reference.isDockerHub ? Worker.dockerHubHost : reference.domain
        var credentials: Credentials?
        if let header = getenv("SKIFF_REGISTRY_AUTH").map({ String(cString: $0) }), !header.isEmpty {
            credentials = try CredentialStore.decodeRegistryAuthHeader(header)
        }
        if credentials == nil {
            var environment: [String: String] = [:]
            for name in ["REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "HOME"] {
                if let value = getenv(name) { environment[name] = String(cString: value) }
            }
            credentials = try CredentialStore.lookup(registry: reference.domain, repository: reference.path,
                                                     files: CredentialStore.defaultFiles(environment: environment))
        }
        let timeout = Int(options.value("--timeout") ?? "") ?? 60
        return RegistryClient(host: host, repository: reference.path, credentials: credentials,
                              insecure: options.flag("--insecure"), certDirectory: options.value("--cert-dir"),
                              timeoutSeconds: max(1, timeout), userAgent: "skiff/0.1.0")
    }
}

/// Registry failures as the HTTP statuses and words moby uses.
enum RegistryErrors {
    static func map(_ error: any Error) -> WorkerFailure? {
        guard let error = error as? RegistryError else { return nil }
        switch error.code {
        case .notFound: return WorkerFailure(.notFound, error.message)
        case .unauthorized, .denied: return WorkerFailure(.failed, error.message)
        case .invalidArgument: return WorkerFailure(.invalidArgument, error.message)
        case .timeout, .network, .tls, .protocolError, .tooLarge, .digestMismatch:
            return WorkerFailure(.failed, error.message)
        }
    }

    /// Whether trying again may help (the connection broke or timed out).
    static func isTransient(_ error: any Error) -> Bool {
        if let error = error as? RegistryError { return error.code == .network || error.code == .timeout }
        return false
    }
}

/// Progress messages as moby writes them (`jsonmessage.JSONMessage`).
enum Progress {
    static func status(_ text: String, id: String? = nil) {
        var members = [JSON.Member("status", .string(text))]
        if let id { members += [JSON.Member("progressDetail", .object([])), JSON.Member("id", .string(id))] }
        Output.message(.object(members))
    }

    static func bar(_ text: String, id: String, current: Int64, total: Int64?) {
        var detail = [JSON.Member("current", .int(current))]
        if let total, total > 0 { detail.append(JSON.Member("total", .int(total))) }
        Output.message(.object([JSON.Member("status", .string(text)), JSON.Member("progressDetail", .object(detail)),
                                JSON.Member("progress", .string(render(current: current, total: total))),
                                JSON.Member("id", .string(id))]))
    }

    /// `[=====>       ]  1.2MB/3.4MB`, as the docker CLI draws when it has only the text.
    static func render(current: Int64, total: Int64?) -> String {
        guard let total, total > 0 else { return size(current) }
        let width = 50
        let filled = Int(min(Int64(width), current * Int64(width) / total))
        var bar = String(repeating: "=", count: filled)
        if filled < width { bar += ">" + String(repeating: " ", count: width - filled - 1) }
        return "[\(bar)] \(size(current))/\(size(total))"
    }

    /// Decimal units, as go-units' HumanSize prints them.
    static func size(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(bytes)B" }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)\(units[unit])"
    }

    /// The 12 hex digits Docker shows for a layer.
    static func shortID(_ digest: Digest) -> String { String(digest.encoded.prefix(12)) }
}
