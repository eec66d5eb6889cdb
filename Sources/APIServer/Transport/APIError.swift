import Config
import Images
import Store

/// An error that reaches the client as `{"message": "..."}` with an HTTP status. Only the
/// transport makes one directly (no route, wrong method, body too large, bad API version);
/// everything else throws its module's error and `from` maps it here.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public var status: HTTPStatus
    public var message: String

    public init(_ status: HTTPStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.code) \(message)" }

    /// Maps any error to what the client sees. Each module's error code decides the status here,
    /// in one exhaustive switch, so a new code forces a decision.
    public static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as EngineError:
            let status: HTTPStatus
            switch error.code {
            case .invalidArgument: status = .badRequest
            case .unauthorized: status = .unauthorized
            case .forbidden: status = .forbidden
            case .notFound: status = .notFound
            case .conflict: status = .conflict
            case .tooLarge: status = .payloadTooLarge
            case .unavailable: status = .serviceUnavailable
            case .internal: status = .internalServerError
            }
            return APIError(status, error.message)
        case let error as StoreError:
            let status: HTTPStatus
            switch error.code {
            case .notFound: status = .notFound
            case .exists: status = .conflict
            case .invalidArgument: status = .badRequest
            case .invalidState: status = .conflict
            case .busy: status = .serviceUnavailable
            case .corrupt, .io: status = .internalServerError
            }
            return APIError(status, error.message)
        case let error as ImageError:
            let status: HTTPStatus
            switch error.code {
            case .notFound: status = .notFound
            case .invalidArgument: status = .badRequest
            case .invalidState: status = .conflict
            case .corrupt, .io: status = .internalServerError
            }
            return APIError(status, error.message)
        case let error as ConfigError:
            switch error.code {
            case .missingFile, .unreadable, .malformed, .invalidValue:
                return APIError(.internalServerError, "configuration: \(error)")
            }
        default:
            return APIError(.internalServerError, "\(error)")
        }
    }
}

/// The HTTP statuses the API uses.
public struct HTTPStatus: Equatable, Sendable {
    public var code: Int
    public var reason: String

    public static let ok = HTTPStatus(code: 200, reason: "OK")
    public static let created = HTTPStatus(code: 201, reason: "Created")
    public static let noContent = HTTPStatus(code: 204, reason: "No Content")
    public static let notModified = HTTPStatus(code: 304, reason: "Not Modified")
    public static let badRequest = HTTPStatus(code: 400, reason: "Bad Request")
    public static let unauthorized = HTTPStatus(code: 401, reason: "Unauthorized")
    public static let forbidden = HTTPStatus(code: 403, reason: "Forbidden")
    public static let notFound = HTTPStatus(code: 404, reason: "Not Found")
    public static let methodNotAllowed = HTTPStatus(code: 405, reason: "Method Not Allowed")
    public static let conflict = HTTPStatus(code: 409, reason: "Conflict")
    public static let payloadTooLarge = HTTPStatus(code: 413, reason: "Request Entity Too Large")
    public static let expectationFailed = HTTPStatus(code: 417, reason: "Expectation Failed")
    public static let internalServerError = HTTPStatus(code: 500, reason: "Internal Server Error")
    public static let serviceUnavailable = HTTPStatus(code: 503, reason: "Service Unavailable")
}
