/// `docker login`: the credentials checked against the registry's `/v2/` (moby's `loginV2`).
extension RegistryClient {
    /// What the registry said: accepted, or the status it refused with.
    public enum LoginOutcome: Sendable, Equatable {
        case accepted
        /// moby's words: `login attempt to <url>/v2/ failed with status: 401 Unauthorized`.
        case refused(status: Int, message: String)
    }

    /// GET /v2/ with the credentials, answering the registry's challenge (Basic, or a bearer
    /// token from its realm); a registry that does not answer is a `.network`/`.timeout` error.
    public func login() throws(RegistryError) -> LoginOutcome {
        do {
            let response = try perform("GET", "/v2/")
            response.body.discard()
            if response.status == 200 { return .accepted }
            return .refused(status: response.status, message: try loginRefusal(response.status))
        } catch where error.code == .unauthorized || error.code == .denied {
            let status = error.httpStatus ?? 401
            return .refused(status: status, message: try loginRefusal(status))
        }
    }

    private func loginRefusal(_ status: Int) throws(RegistryError) -> String {
        let reason: String
        switch status {
        case 401: reason = "Unauthorized"
        case 403: reason = "Forbidden"
        case 404: reason = "Not Found"
        default: reason = ""
        }
        let url = try registryURL("/v2/").description
        return "login attempt to \(url) failed with status: \(status)" + (reason.isEmpty ? "" : " " + reason)
    }
}
