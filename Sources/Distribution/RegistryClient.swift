import Images

/// A client of one repository on one registry, speaking the OCI distribution protocol over a
/// blocking HTTP/1.1 connection. Not thread-safe: one worker thread uses it at a time.
public final class RegistryClient {
    /// "127.0.0.1:5000", "registry.example:443", "registry-1.docker.io".
    public let host: String
    public let repository: String
    let credentials: Credentials?
    let insecure: Bool
    let certDirectory: String?
    let timeoutSeconds: Int
    private(set) var http: HTTPClient!
    /// "https" or "http" once decided (an insecure registry is tried with TLS first).
    var scheme: String?
    private var tlsContext: TLSContext?
    /// The registry's last challenge: Authorization is then sent ahead on every request.
    var challenge: AuthChallenge?
    /// Bearer tokens by scope list.
    var tokens: [String: (value: String, validUntil: Deadline)] = [:]

    static let maximumRedirects = 5

    /// `insecure`: try HTTPS without certificate verification, fall back to plain HTTP when the
    /// port does not speak TLS. Else HTTPS only, verified against the system's CAs plus the
    /// `*.crt` in `certDirectory` (a certs.d directory for this host; `client.cert` and
    /// `client.key` there are a client certificate). `timeoutSeconds` bounds the connect and
    /// every wait for the registry to read or write.
    public init(host: String, repository: String, credentials: Credentials?, insecure: Bool,
                certDirectory: String? = nil, timeoutSeconds: Int = 60, userAgent: String = "skiff/0.1.0") {
        self.host = host
        self.repository = repository
        self.credentials = credentials
        self.insecure = insecure
        self.certDirectory = certDirectory
        self.timeoutSeconds = max(1, timeoutSeconds)
        self.scheme = insecure ? nil : "https"
        self.http = HTTPClient(userAgent: userAgent, timeoutSeconds: self.timeoutSeconds) { [unowned self] (url) throws(RegistryError) -> TLSContext? in
            try self.tls(for: url)
        }
    }

    /// One context for every https connection of this client: a registry trusted without
    /// verification is trusted so for its redirects and its token service too.
    private func tls(for url: HTTPURL) throws(RegistryError) -> TLSContext? {
        guard url.scheme == "https" else { return nil }
        if let tlsContext { return tlsContext }
        let context = try TLSContext(verifyPeer: !insecure, certDirectory: certDirectory)
        tlsContext = context
        return context
    }

    // MARK: - Manifests

    /// GET /v2/<repository>/manifests/<reference>. The body (at most `limit` bytes), its media
    /// type, and its digest, checked against `reference` when that is a digest and against
    /// Docker-Content-Digest when the registry sends one.
    public func getManifest(_ reference: String, accept: [String],
                            limit: Int = 4 << 20) throws(RegistryError) -> (bytes: [UInt8], mediaType: String, digest: Digest) {
        let expected = try referenceDigest(reference)
        let response = try perform("GET", "/v2/\(repository)/manifests/\(reference)",
                                   headers: [("Accept", accept.joined(separator: ", "))])
        guard response.status == 200 else { throw response.error() }
        let bytes = try response.body.readAll(limit: limit)
        let digest = Digest.sha256(of: bytes)
        if let expected, digest != expected {
            throw RegistryError(.digestMismatch, "manifest \(reference) from \(host)/\(repository): content has digest \(digest)",
                                httpStatus: response.status)
        }
        if let header = response.headers["Docker-Content-Digest"], let claimed = try? Digest(parsing: header.trimmingSpaces),
           claimed != digest {
            throw RegistryError(.digestMismatch, "manifest \(reference) from \(host)/\(repository): Docker-Content-Digest \(claimed) "
                                    + "does not match the content's digest \(digest)", httpStatus: response.status)
        }
        return (bytes, response.mediaType, digest)
    }

    /// PUT /v2/<repository>/manifests/<reference>; the digest of `bytes`.
    public func putManifest(_ bytes: [UInt8], mediaType: String, reference: String) throws(RegistryError) -> Digest {
        let response = try perform("PUT", "/v2/\(repository)/manifests/\(reference)",
                                   headers: [("Content-Type", mediaType)], body: .bytes(bytes), push: true)
        guard response.status == 201 || response.status == 200 || response.status == 202 else { throw response.error() }
        response.body.discard()
        return Digest.sha256(of: bytes)
    }

    private func referenceDigest(_ reference: String) throws(RegistryError) -> Digest? {
        guard reference.contains(":") else { return nil }
        do {
            return try Digest(parsing: reference)
        } catch {
            throw RegistryError(.invalidArgument, error.message)
        }
    }

    // MARK: - Blobs

    /// GET /v2/<repository>/blobs/<digest>, following redirects. The reader checks the size and
    /// the digest as the body streams.
    public func openBlob(_ digest: Digest, expectedSize: Int64?) throws(RegistryError) -> BlobReader {
        let response = try perform("GET", "/v2/\(repository)/blobs/\(digest)")
        guard response.status == 200 else { throw response.error() }
        return BlobReader(response: response, digest: digest, expectedSize: expectedSize)
    }

    /// HEAD /v2/<repository>/blobs/<digest>: true on 200, false on 404.
    public func blobExists(_ digest: Digest) throws(RegistryError) -> Bool {
        let response = try perform("HEAD", "/v2/\(repository)/blobs/\(digest)", push: true)
        switch response.status {
        case 200:
            response.body.discard()
            return true
        case 404:
            response.body.discard()
            return false
        default:
            throw response.error()
        }
    }

    /// POST /v2/<repository>/blobs/uploads/?mount=<digest>&from=<repository>: true when the
    /// registry mounted the blob (201); false when it started an upload instead (cancelled here).
    public func mountBlob(_ digest: Digest, from source: String) throws(RegistryError) -> Bool {
        let target = "/v2/\(repository)/blobs/uploads/?mount=\(HTTPURL.percentEncode(digest.description))"
            + "&from=\(HTTPURL.percentEncode(source))"
        let response = try perform("POST", target, push: true, extraScopes: ["repository:\(source):pull"])
        switch response.status {
        case 201:
            response.body.discard()
            return true
        case 202:
            response.body.discard()
            if let location = response.headers["Location"], let upload = response.url.resolve(location) {
                (try? perform("DELETE", url: upload, push: true))?.body.discard()
            }
            return false
        default:
            throw response.error()
        }
    }

    /// A monolithic upload: POST /v2/<repository>/blobs/uploads/, then PUT <Location> with
    /// `digest=` added and exactly `size` bytes pulled from `read` (0 = end). `progress` gets the
    /// bytes sent so far. Errors thrown by `read` come out as they are.
    public func uploadBlob(_ digest: Digest, size: Int64, read: (UnsafeMutableRawBufferPointer) throws -> Int,
                           progress: ((Int64) -> Void)?) throws {
        let started = try perform("POST", "/v2/\(repository)/blobs/uploads/", push: true)
        guard started.status == 202 || started.status == 201 else { throw started.error() }
        started.body.discard()
        guard let location = started.headers["Location"], let upload = started.url.resolve(location) else {
            throw RegistryError(.protocolError, "\(started.operation): upload started without a usable Location header",
                                httpStatus: started.status)
        }
        let put = upload.addingQuery("digest", digest.description)
        try withoutActuallyEscaping(read) { read in
            var sourceError: (any Error)?
            let pull: (UnsafeMutableRawBufferPointer) throws(RegistryError) -> Int = { (buffer) throws(RegistryError) -> Int in
                do {
                    return try read(buffer)
                } catch {
                    sourceError = error
                    throw RegistryError(.invalidArgument, "reading blob \(digest): \(error)")
                }
            }
            do {
                let response = try perform("PUT", url: put, headers: [("Content-Type", "application/octet-stream")],
                                           body: .stream(size: size, read: pull, progress: progress), push: true)
                guard response.status == 201 || response.status == 200 || response.status == 204 else {
                    throw response.error()
                }
                response.body.discard()
            } catch {
                if let sourceError { throw sourceError }
                throw error
            }
        }
    }

    // MARK: - Requests

    /// The URL of `target` on the registry.
    func registryURL(_ target: String) throws(RegistryError) -> HTTPURL {
        guard let url = HTTPURL(scheme: scheme ?? "https", authority: host, target: target) else {
            throw RegistryError(.invalidArgument, "invalid registry host \"\(host)\"")
        }
        return url
    }

    func perform(_ method: String, _ target: String, headers: [(name: String, value: String)] = [],
                 body: HTTPRequest.Body = .none, push: Bool = false,
                 extraScopes: [String] = []) throws(RegistryError) -> HTTPResponse {
        try perform(method, url: try registryURL(target), headers: headers, body: body, push: push,
                    extraScopes: extraScopes)
    }

    /// Sends a request, authenticating (once) when the registry challenges, following GET and
    /// HEAD redirects (Authorization only to the registry's own host), and falling back to
    /// plain HTTP for an insecure registry whose port does not speak TLS.
    func perform(_ method: String, url first: HTTPURL, headers: [(name: String, value: String)] = [],
                 body: HTTPRequest.Body = .none, push: Bool = false,
                 extraScopes: [String] = []) throws(RegistryError) -> HTTPResponse {
        let scopes = ["repository:\(repository):\(push ? "pull,push" : "pull")"] + extraScopes
        var url = first
        var redirects = 0
        var authenticated = false
        while true {
            // Computed each time: the scheme (and so the default port) may have just been decided.
            let onRegistry = url.isSameServer(try registryURL("/"))
            var request = HTTPRequest(method, url, headers: headers, body: body)
            if onRegistry, let authorization = try authorization(scopes: scopes) {
                request.headers.append(("Authorization", authorization))
            }
            let response: HTTPResponse
            do {
                response = try http.send(request)
            } catch where error.code == .tls && onRegistry && insecure && scheme == nil && url.scheme == "https" {
                // The port does not speak TLS: plain HTTP from now on.
                scheme = "http"
                url.scheme = "http"
                url.port = HTTPURL(scheme: "http", authority: url.authority, target: "/")?.port ?? url.port
                continue
            }
            if onRegistry && scheme == nil { scheme = url.scheme }

            switch response.status {
            case 401 where onRegistry:
                let challenges = AuthChallenge.parse(response.headers.values("WWW-Authenticate"))
                let rejection = response.error()
                if authenticated { throw unauthorized(rejection, operation: response.operation) }
                if case .stream = body { throw unauthorized(rejection, operation: response.operation) }
                authenticated = true
                try accept(challenges, scopes: scopes, rejection: rejection)
            case let status where [301, 302, 303, 307, 308].contains(status) && (method == "GET" || method == "HEAD"):
                guard let location = response.headers["Location"], let next = url.resolve(location) else {
                    response.body.close()
                    throw RegistryError(.protocolError, "\(response.operation): redirect without a usable Location header",
                                        httpStatus: response.status)
                }
                response.body.discard()
                redirects += 1
                guard redirects <= RegistryClient.maximumRedirects else {
                    throw RegistryError(.protocolError, "\(response.operation): stopped after \(RegistryClient.maximumRedirects) redirects")
                }
                url = next
            default:
                return response
            }
        }
    }
}
