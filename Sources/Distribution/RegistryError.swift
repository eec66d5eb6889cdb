import Platform

/// The one error type of the Distribution module. The image worker maps `code` to an HTTP
/// status in one switch.
public struct RegistryError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// 404, or the registry's MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN.
        case notFound
        /// 401 after authenticating (or no credentials for a Basic challenge).
        case unauthorized
        /// 403.
        case denied
        /// The connection, a read or a write took longer than the timeout.
        case timeout
        /// Name resolution, connect, a broken connection.
        case network
        /// The TLS handshake failed (certificate verification, protocol).
        case tls
        /// The peer did not speak HTTP or the distribution protocol as expected.
        case protocolError
        /// A body larger than the caller's limit.
        case tooLarge
        /// Content that does not hash to its digest or does not have its size.
        case digestMismatch
        /// Bad input from the caller (an auth header that does not decode, a malformed auth file).
        case invalidArgument
    }

    public var code: Code
    /// Human text naming what failed: "manifest unknown: manifest unknown",
    /// `Get "https://127.0.0.1:5000/v2/": read: timed out after 1 s`.
    public var message: String
    /// The HTTP status, when the registry answered.
    public var httpStatus: Int?
    /// The first code of the registry's JSON error body (MANIFEST_UNKNOWN, UNAUTHORIZED, ...).
    public var registryCode: String?

    public init(_ code: Code, _ message: String, httpStatus: Int? = nil, registryCode: String? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.registryCode = registryCode
    }

    public var description: String { message }

    /// The same error with `context` in front of its message (`Get "https://...": `).
    func prefixed(_ context: String) -> RegistryError {
        var copy = self
        copy.message = context + ": " + message
        return copy
    }
}

extension RegistryError {
    /// The error for a response the caller did not expect: the registry's JSON error body when
    /// there is one (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`),
    /// worded as the distribution project's errcode does ("manifest unknown: manifest unknown"),
    /// else the status line. `operation` names the request for a body that says nothing.
    static func response(status: Int, body: [UInt8], operation: String) -> RegistryError {
        let code: Code
        switch status {
        case 401: code = .unauthorized
        case 403: code = .denied
        case 404: code = .notFound
        case 413: code = .tooLarge
        default: code = .protocolError
        }
        if let (registryCode, text) = firstRegistryError(body) {
            var errorCode = code
            switch registryCode {
            case "MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN", "BLOB_UPLOAD_UNKNOWN": errorCode = .notFound
            case "UNAUTHORIZED": errorCode = .unauthorized
            case "DENIED": errorCode = .denied
            case "SIZE_INVALID", "DIGEST_INVALID", "MANIFEST_INVALID", "NAME_INVALID", "TAG_INVALID",
                 "MANIFEST_BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "UNSUPPORTED":
                if code == .protocolError { errorCode = .invalidArgument }
            default: break
            }
            return RegistryError(errorCode, text, httpStatus: status, registryCode: registryCode)
        }
        return RegistryError(code, "\(operation): unexpected status \(status) \(reasonPhrase(status))",
                             httpStatus: status)
    }

    /// The code and errcode-style text of the first error in a registry error body.
    static func firstRegistryError(_ body: [UInt8]) -> (code: String, text: String)? {
        guard !body.isEmpty, let json = try? JSONParser.parse(body),
              case .array(let errors)? = json["errors"], let first = errors.first,
              case .string(let registryCode)? = first["code"] else { return nil }
        var text = String(registryCode.lowercased().map { $0 == "_" ? " " : $0 }) + ": "
        if case .string(let message)? = first["message"] { text += message }
        return (registryCode, text)
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Payload Too Large"
        case 416: return "Range Not Satisfiable"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return ""
        }
    }
}
