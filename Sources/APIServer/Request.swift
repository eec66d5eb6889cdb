import Platform
/// A decoded API request, handed to a route's handler.
public struct Request: Sendable {
    public var method: String
    /// The path as requested (with any `/v1.NN` prefix), without the query.
    public var path: String
    /// The API version the client asked for (the prefix), or the current one.
    public var version: APIVersion
    public var query: [String: [String]]
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Values of `{name}` segments of the matched route.
    public var parameters: [String: String] = [:]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public func queryValue(_ name: String) -> String? { query[name]?.last }
}

/// What a handler answers.
public struct Response: Sendable {
    public var status: HTTPStatus
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: HTTPStatus = .ok, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body with Docker's trailing newline.
    public static func json(_ value: JSON, status: HTTPStatus = .ok) -> Response {
        var body = value.bytes
        body.append(0x0A)
        return Response(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    /// `{"message": "..."}`, Docker's error body.
    public static func error(_ error: APIError) -> Response {
        json(["message": JSON(error.message)], status: error.status)
    }
}
