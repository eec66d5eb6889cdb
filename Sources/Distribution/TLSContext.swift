import COpenSSL
import Glibc
import Platform

/// One OpenSSL client context: TLS 1.2 or later, and either verification against the system's
/// CAs plus a certs.d directory (`ca.crt`, `*.crt`; `client.cert` + `client.key`), or none.
final class TLSContext {
    let context: OpaquePointer
    let verifiesPeer: Bool

    init(verifyPeer: Bool, certDirectory: String?) throws(RegistryError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw RegistryError(.tls, "tls: creating a context: \(TLSContext.errorQueueText())")
        }
        self.context = context
        self.verifiesPeer = verifyPeer
        guard skiff_ssl_ctx_configure(context) == 1 else {
            throw RegistryError(.tls, "tls: setting the minimum version: \(TLSContext.errorQueueText())")
        }
        if verifyPeer {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            if SSL_CTX_set_default_verify_paths(context) != 1 { ERR_clear_error() }
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        if let certDirectory { try load(certDirectory) }
    }

    deinit { SSL_CTX_free(context) }

    /// Podman's and Docker's certs.d layout: every `*.crt` is a CA; `X.cert` with `X.key` is a
    /// client certificate. A directory that does not exist holds nothing.
    private func load(_ directory: String) throws(RegistryError) {
        guard let names = FileSystem.directoryEntries(directory) else { return }
        for name in names.sorted() {
            let path = directory + "/" + name
            if name.hasSuffix(".crt") {
                if verifiesPeer && SSL_CTX_load_verify_locations(context, path, nil) != 1 {
                    throw RegistryError(.tls, "tls: loading CA certificate \(path): \(TLSContext.errorQueueText())")
                }
            } else if name.hasSuffix(".cert") {
                let key = String(name.dropLast(5)) + ".key"
                guard names.contains(key) else {
                    throw RegistryError(.tls, "tls: missing key \(key) for client certificate \(path)")
                }
                guard SSL_CTX_use_certificate_chain_file(context, path) == 1 else {
                    throw RegistryError(.tls, "tls: loading client certificate \(path): \(TLSContext.errorQueueText())")
                }
                guard SSL_CTX_use_PrivateKey_file(context, directory + "/" + key, SSL_FILETYPE_PEM) == 1 else {
                    throw RegistryError(.tls, "tls: loading client key \(directory)/\(key): \(TLSContext.errorQueueText())")
                }
            }
        }
    }

    /// Everything on OpenSSL's error queue for this thread, oldest first; clears it.
    static func errorQueueText() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if let reason = ERR_reason_error_string(code) {
                parts.append(String(cString: reason))
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                parts.append(buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            }
        }
        return parts.isEmpty ? "unknown error" : parts.joined(separator: "; ")
    }
}
