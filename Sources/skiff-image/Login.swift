import Distribution
import Images
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-image login --server HOST [--insecure] [--cert-dir DIR] [--timeout S]`: `POST /auth`.
/// The credentials are `$SKIFF_REGISTRY_AUTH` (the request's body, as an X-Registry-Auth value);
/// the registry's answer is one JSON object on standard output: `{"Status": "Login Succeeded",
/// "IdentityToken": ""}`, or `{"status": N, "message": "..."}` when it refused them. A registry
/// that cannot be reached is the worker's failure.
extension Worker {
    func login() throws {
        let given = try options.required("--server")
        let server = (try? Reference(parsing: given + "/login"))?.isDockerHub == true ? Worker.dockerHubHost : given
        var credentials: Credentials?
        if let header = getenv("SKIFF_REGISTRY_AUTH").map({ String(cString: $0) }), !header.isEmpty {
            credentials = try CredentialStore.decodeRegistryAuthHeader(header)
        }
        let timeout = Int(options.value("--timeout") ?? "") ?? 15
        let client = RegistryClient(host: server, repository: "", credentials: credentials,
                                    insecure: options.flag("--insecure"), certDirectory: options.value("--cert-dir"),
                                    timeoutSeconds: max(1, timeout), userAgent: "skiff/0.1.0")
        switch try client.login() {
        case .accepted:
            Output.message(.object([JSON.Member("Status", "Login Succeeded"),
                                    JSON.Member("IdentityToken", .string(credentials?.identityToken ?? ""))]))
        case .refused(let status, let message):
            Output.message(.object([JSON.Member("status", .int(Int64(status))), JSON.Member("message", .string(message))]))
        }
    }
}
