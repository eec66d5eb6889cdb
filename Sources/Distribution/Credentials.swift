import Platform
/// What a client presents to a registry: a user name and password (Basic, or exchanged for a
/// bearer token), an OAuth refresh token, or a bearer token used as is.
public struct Credentials: Sendable, Equatable {
    public var username: String
    public var password: String
    /// OAuth refresh token (`docker login` with an identity token).
    public var identityToken: String?
    /// Bearer token to use as is.
    public var registryToken: String?

    public init(username: String = "", password: String = "", identityToken: String? = nil,
                registryToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
        self.registryToken = registryToken
    }

    /// Whether there is nothing to present.
    var isEmpty: Bool {
        username.isEmpty && password.isEmpty && (identityToken ?? "").isEmpty && (registryToken ?? "").isEmpty
    }

    /// `Basic base64(user:password)`, when there is a user name or password.
    var basicAuthorization: String? {
        guard !username.isEmpty || !password.isEmpty else { return nil }
        return "Basic " + Base64.encode(Array((username + ":" + password).utf8))
    }
}
