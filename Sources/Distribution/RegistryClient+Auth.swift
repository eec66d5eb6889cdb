import Platform

/// Registry authentication: the Basic scheme, and bearer tokens from the realm the registry
/// names (Docker's token protocol, and its OAuth refresh-token form for identity tokens).
extension RegistryClient {
    /// The Authorization value for a request to the registry, once the registry has said which
    /// scheme it wants; nil before its first challenge (anonymous until asked).
    func authorization(scopes: [String]) throws(RegistryError) -> String? {
        guard let challenge else { return nil }
        switch challenge.scheme {
        case "basic":
            return credentials?.basicAuthorization
        case "bearer":
            if let token = credentials?.registryToken, !token.isEmpty { return "Bearer " + token }
            let wanted = tokenScopes(scopes, challenge: challenge)
            let key = wanted.joined(separator: " ")
            if let cached = tokens[key], cached.validUntil.remainingMilliseconds > 0 { return "Bearer " + cached.value }
            let (token, lifetime) = try fetchToken(challenge, scopes: wanted)
            tokens[key] = (token, Deadline(seconds: max(0, lifetime - 10)))
            return "Bearer " + token
        default:
            return nil
        }
    }

    /// Takes the challenges of a 401: Bearer preferred, then Basic. The token that was refused
    /// is forgotten, so the retry fetches a new one.
    func accept(_ challenges: [AuthChallenge], scopes: [String], rejection: RegistryError) throws(RegistryError) {
        guard let chosen = challenges.first(where: { $0.scheme == "bearer" }) ?? challenges.first(where: { $0.scheme == "basic" }) else {
            var error = rejection
            if error.registryCode == nil {
                error.message = "\(rejection.message) (no Bearer or Basic challenge in WWW-Authenticate)"
            }
            error.code = .unauthorized
            throw error
        }
        if chosen.scheme == "basic" && credentials?.basicAuthorization == nil {
            var error = rejection
            error.code = .unauthorized
            error.message = "\(host): the registry requires a user name and password (Basic authentication) and none were given"
            throw error
        }
        if chosen.scheme == "bearer" {
            tokens[tokenScopes(scopes, challenge: chosen).joined(separator: " ")] = nil
        }
        challenge = chosen
    }

    /// The error for a request refused after authenticating.
    func unauthorized(_ rejection: RegistryError, operation: String) -> RegistryError {
        var error = rejection
        error.code = .unauthorized
        let who: String
        if let credentials, !credentials.username.isEmpty {
            who = "as \"\(credentials.username)\""
        } else if credentials?.identityToken != nil || credentials?.registryToken != nil {
            who = "with the token given"
        } else {
            who = "anonymously (no credentials)"
        }
        let said = rejection.registryCode != nil ? rejection.message : "401 Unauthorized"
        error.message = "\(operation): \(said): access refused \(who)"
        return error
    }

    /// Our scopes, plus the one the challenge names when it is about something else.
    func tokenScopes(_ scopes: [String], challenge: AuthChallenge) -> [String] {
        var wanted = scopes
        if let named = challenge.parameters["scope"] {
            for scope in named.split(separator: " ").map(String.init)
            where !wanted.contains(scope) && !scope.hasPrefix("repository:\(repository):") {
                wanted.append(scope)
            }
        }
        return wanted
    }

    /// Asks the challenge's realm for a token: GET with Basic credentials (or anonymous), or,
    /// with an identity token, the OAuth2 refresh-token POST. The token and its lifetime in seconds.
    func fetchToken(_ challenge: AuthChallenge, scopes: [String]) throws(RegistryError) -> (String, Int) {
        guard let realmText = challenge.parameters["realm"], var realm = HTTPURL(realmText) else {
            throw RegistryError(.unauthorized, "\(host): bearer challenge without a usable realm "
                                    + "(\"\(challenge.parameters["realm"] ?? "")\")")
        }
        let request: HTTPRequest
        if let refresh = credentials?.identityToken, !refresh.isEmpty {
            var form = "grant_type=refresh_token&client_id=skiff&refresh_token=" + HTTPURL.percentEncode(refresh)
            if let service = challenge.parameters["service"] { form += "&service=" + HTTPURL.percentEncode(service) }
            form += "&scope=" + HTTPURL.percentEncode(scopes.joined(separator: " "))
            request = HTTPRequest("POST", realm, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                  body: .bytes(Array(form.utf8)))
        } else {
            if let service = challenge.parameters["service"] { realm = realm.addingQuery("service", service) }
            for scope in scopes { realm = realm.addingQuery("scope", scope) }
            var headers: [(name: String, value: String)] = []
            if let credentials, let basic = credentials.basicAuthorization {
                realm = realm.addingQuery("account", credentials.username)
                headers.append(("Authorization", basic))
            }
            request = HTTPRequest("GET", realm, headers: headers)
        }
        let response = try http.send(request)
        guard response.status == 200 else {
            var error = response.error()
            if error.code == .notFound || error.code == .protocolError || error.code == .denied {
                error.code = response.status == 403 ? .denied : .unauthorized
            }
            if error.registryCode != nil || response.status == 401 {
                error.code = response.status == 403 ? .denied : .unauthorized
                error.message = "\(response.operation): fetching a token: \(error.registryCode != nil ? error.message : "401 Unauthorized")"
            }
            throw error
        }
        let body = try response.body.readAll(limit: 1 << 20)
        guard let json = try? JSONParser.parse(body), case .object = json else {
            throw RegistryError(.protocolError, "\(response.operation): the token service answered something that is not a JSON object")
        }
        var token: String?
        for key in ["token", "access_token"] {
            if case .string(let s)? = json[key], !s.isEmpty {
                token = s
                break
            }
        }
        guard let token else {
            throw RegistryError(.protocolError, "\(response.operation): the token service's answer has no token")
        }
        var lifetime = 60
        if case .int(let seconds)? = json["expires_in"], seconds > 0 { lifetime = Int(clamping: seconds) }
        return (token, lifetime)
    }
}
