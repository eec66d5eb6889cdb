import Platform

/// `GET /images/search` against one registry: the v1 search API (Docker Hub's index answers it;
/// moby asks nothing else), then, for a registry without it, the repositories of its
/// `/v2/_catalog` whose names contain the term (containers/image's `SearchRegistry`, Podman).
extension RegistryClient {
    /// One result, as moby's `registry.SearchResult`.
    public struct SearchResult: Sendable, Equatable {
        public var name: String
        public var description: String
        public var starCount: Int64
        public var isOfficial: Bool
        public var isAutomated: Bool

        public init(name: String, description: String = "", starCount: Int64 = 0, isOfficial: Bool = false,
                    isAutomated: Bool = false) {
            self.name = name
            self.description = description
            self.starCount = starCount
            self.isOfficial = isOfficial
            self.isAutomated = isAutomated
        }
    }

    /// Bodies larger than this are refused (a catalog page, a search answer).
    static let searchLimit = 4 << 20

    /// GET /v1/search?q=TERM&n=LIMIT: the results, or the error naming the request (a status
    /// other than 200 is `Unexpected status code N`, moby's words).
    public func searchV1(term: String, limit: Int) throws(RegistryError) -> [SearchResult] {
        let target = "/v1/search?q=" + RegistryClient.queryEscape(term) + "&n=\(limit)"
        let response = try perform("GET", target)
        guard response.status == 200 else {
            response.body.discard()
            throw RegistryError(response.status == 404 ? .notFound : .protocolError,
                                "Unexpected status code \(response.status)", httpStatus: response.status)
        }
        let bytes = try response.body.readAll(limit: RegistryClient.searchLimit)
        guard case .object(let top)? = try? JSONParser.parse(bytes) else {
            throw RegistryError(.protocolError, "\(response.operation): the search answer is not a JSON object")
        }
        guard case .array(let entries)? = top.first(where: { $0.key == "results" })?.value else { return [] }
        return entries.compactMap { entry in
            guard case .object(let fields) = entry else { return nil }
            func value(_ key: String) -> JSON? { fields.first { $0.key == key }?.value }
            guard case .string(let name)? = value("name") else { return nil }
            var result = SearchResult(name: name)
            if case .string(let text)? = value("description") { result.description = text }
            switch value("star_count") {
            case .int(let n)?: result.starCount = n
            case .uint(let n)?: result.starCount = Int64(clamping: n)
            case .double(let d)?: result.starCount = Int64(exactly: d.rounded()) ?? 0
            default: break
            }
            if case .bool(let b)? = value("is_official") { result.isOfficial = b }
            if case .bool(let b)? = value("is_automated") { result.isAutomated = b }
            return result
        }
    }

    /// The repositories in `/v2/_catalog` whose names contain `term`, at most `limit`, following
    /// the `Link` header's next pages (at most `pages`).
    public func catalogSearch(term: String, limit: Int, pages: Int = 20) throws(RegistryError) -> [String] {
        var found: [String] = []
        var target = "/v2/_catalog"
        for _ in 0..<pages {
            let response = try perform("GET", target, extraScopes: ["registry:catalog:*"])
            guard response.status == 200 else { throw response.error() }
            let link = response.headers["Link"]
            let bytes = try response.body.readAll(limit: RegistryClient.searchLimit)
            guard case .object(let top)? = try? JSONParser.parse(bytes) else {
                throw RegistryError(.protocolError, "\(response.operation): the catalog is not a JSON object")
            }
            if case .array(let names)? = top.first(where: { $0.key == "repositories" })?.value {
                for case .string(let name) in names where term.isEmpty || name.contains(term) {
                    found.append(name)
                    if found.count >= limit { return found }
                }
            }
            guard let next = link.flatMap(RegistryClient.nextPage) else { break }
            target = next
        }
        return found
    }

    /// The target of a `Link: </v2/_catalog?last=x&n=y>; rel="next"` header.
    static func nextPage(_ link: String) -> String? {
        guard link.contains("rel=\"next\""), let open = link.firstIndex(of: "<"),
              let close = link[open...].firstIndex(of: ">") else { return nil }
        let target = String(link[link.index(after: open)..<close])
        return target.hasPrefix("/v2/") ? target : nil
    }

    /// Go's `url.QueryEscape`: unreserved bytes as they are, a space as `+`, others `%XX`.
    public static func queryEscape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out += "+"
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
