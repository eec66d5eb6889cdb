/// One API route: method, path template (`/containers/{id}/json`), moby's operation name, handler.
/// A class: every request is tried on the routes in turn, and a struct this size is copied (and
/// all it holds retained) each time one is looked at.
public final class Route: Sendable {
    public typealias Handler = @Sendable (Request, Engine) throws -> Response
    /// A blocking route's answer on the event loop, when it can give one without waiting (nil:
    /// run `handler` on the pool).
    public typealias QuickHandler = @Sendable (Request, Engine) throws -> Response?

    public let method: String
    public let template: String
    /// moby's operation name; also the `operationId` in openapi.yaml.
    public let operationId: String
    /// Runs on the blocking thread pool (it touches SQLite or files) instead of the event loop.
    public let blocking: Bool
    /// Largest request body the handler accepts, bytes; more is answered with 413.
    public let maxBody: Int
    /// The body is written to an unnamed temporary file as it arrives (archives, rootfs
    /// tarballs) instead of being held in memory; the handler gets it as `Request.spooled`.
    public let spool: Bool
    /// The handler starts when the head arrives and takes the body as it comes
    /// (`Request.feed`), on the pool for long waits.
    public let follows: Bool
    /// May block for long (a stop waits out its timeout): runs on the pool for long waits, so
    /// it cannot hold up the short blocking handlers.
    public let long: Bool
    /// The handler may take over the connection (`Response.hijack`): the client's end of input
    /// is held back until it has decided, so bytes sent with the request are not lost.
    public let hijacks: Bool
    let handler: Handler
    /// Tried first, on the event loop, for a blocking route: a short read that finds the Store
    /// free answers without the trip to the pool and back (`GET /containers/json`).
    let quick: QuickHandler?
    let segments: [Substring]
    /// The index of a `{name:.*}` segment, which takes one or more path segments (image names
    /// have slashes: `/images/127.0.0.1:5000/busybox/json`).
    let greedy: Int?

    public init(_ method: String, _ template: String, _ operationId: String, blocking: Bool = false,
                maxBody: Int = Router.defaultMaxBody, spool: Bool = false, follows: Bool = false, long: Bool = false,
                hijacks: Bool = false, quick: QuickHandler? = nil, _ handler: @escaping Handler) {
        self.method = method
        self.template = template
        self.operationId = operationId
        self.blocking = blocking || spool || follows
        self.maxBody = spool || follows ? Int.max : maxBody
        self.spool = spool && !follows
        self.follows = follows
        self.long = long || follows
        self.hijacks = hijacks
        self.handler = handler
        self.quick = quick
        let segments = template.split(separator: "/")
        self.segments = segments
        self.greedy = segments.firstIndex { $0.hasSuffix(":.*}") }
    }

    /// The path parameters when `path` matches this template.
    func parameters(_ path: [Substring]) -> [String: String]? {
        var parameters: [String: String] = [:]
        if let greedy {
            let after = segments.count - greedy - 1
            guard path.count >= segments.count,
                  Route.bind(segments[..<greedy], path[..<greedy], into: &parameters),
                  Route.bind(segments[(greedy + 1)...], path[(path.count - after)...], into: &parameters) else { return nil }
            // Decoded only once the fixed segments matched (every request is tried on every route).
            let middle = path[greedy..<(path.count - after)]
            let name = segments[greedy].dropFirst().dropLast(4)
            parameters[String(name)] = middle.map { Router.percentDecode($0) }.joined(separator: "/")
            return parameters
        }
        guard Route.bind(segments[...], path[...], into: &parameters) else { return nil }
        return parameters
    }

    /// `{name}` (or `{name:.*}`): a segment that takes a value.
    static func isParameter(_ segment: Substring) -> Bool { segment.first == "{" && segment.last == "}" }

    private static func bind(_ patterns: ArraySlice<Substring>, _ values: ArraySlice<Substring>,
                             into parameters: inout [String: String]) -> Bool {
        guard patterns.count == values.count else { return false }
        for (pattern, segment) in zip(patterns, values) {
            if Route.isParameter(pattern) {
                parameters[String(pattern.dropFirst().dropLast())] = Router.percentDecode(segment)
            } else if pattern != segment {
                return false
            }
        }
        return true
    }
}

/// The route table and how a request target finds its route.
public struct Router: Sendable {
    /// Stated limit for a buffered request body (JSON bodies): 4 MiB. Docker has none; a client
    /// sending more to a JSON endpoint is broken or hostile.
    public static let defaultMaxBody = 4 << 20

    public let routes: [Route]
    /// The routes a path may match, by its first segment (after any version prefix), in table
    /// order: those whose first segment is that word, and those whose first is a parameter.
    /// A request is tried on these only (`/containers/json` on the container routes, not on
    /// all of them).
    private let byFirstSegment: [String: [Route]]
    /// The candidates for any other path: routes whose first segment is a parameter (or that
    /// have none).
    private let anyFirstSegment: [Route]
    /// Routes without parameters by their method and exact path (`GET /containers/json`), for
    /// paths written plainly (no empty segment, no trailing slash): such a path needs no
    /// segments, no candidates and no bindings. Only routes that are the first match of their
    /// path in table order are here, so the answer is the same as the full lookup's.
    private let exact: [String: Route]

    public init(routes: [Route]) {
        self.routes = routes
        func open(_ route: Route) -> Bool { route.segments.first.map(Route.isParameter) ?? true }
        var index: [String: [Route]] = [:]
        for route in routes {
            guard let first = route.segments.first, !Route.isParameter(first), index[String(first)] == nil else { continue }
            index[String(first)] = routes.filter { $0.segments.first == first || open($0) }
        }
        byFirstSegment = index
        anyFirstSegment = routes.filter(open)
        var exact: [String: Route] = [:]
        for (position, route) in routes.enumerated() where route.segments.allSatisfy({ !Route.isParameter($0) }) {
            let shadowed = routes[..<position].contains { $0.method == route.method && $0.parameters(route.segments) != nil }
            if !shadowed { exact[route.method + " /" + route.segments.joined(separator: "/")] = route }
        }
        self.exact = exact
    }

    public enum Match {
        case found(Route, parameters: [String: String], version: APIVersion)
        case notFound
        case methodNotAllowed
        case badVersion(APIError)
    }

    /// Finds the route for `method` and `path` (no query). Paths may carry a `/v1.NN` prefix;
    /// the version is checked only once a route matched, as Docker's middleware does.
    public func match(method: String, path: String) -> Match {
        match(method: method, path: path[...])
    }

    /// The same for a path that is part of the request target.
    public func match(method: String, path: Substring) -> Match {
        if let (route, requested) = exactMatch(method: method, path: path) {
            return Router.found(route, parameters: [:], requested: requested)
        }
        var segments = Router.segments(path)
        var requested: Substring?
        if let first = segments.first, Router.isVersionPrefix(first) {
            requested = first.dropFirst()
            segments.removeFirst()
        }
        var pathMatched = false
        // A String of a short word is made without allocating, and hashes faster than a Substring.
        let candidates = segments.first.flatMap { byFirstSegment[String($0)] } ?? anyFirstSegment
        for route in candidates {
            guard route.method == method else {
                // Only whether some route has this path matters (405 rather than 404).
                if !pathMatched && route.parameters(segments) != nil { pathMatched = true }
                continue
            }
            guard let parameters = route.parameters(segments) else { continue }
            pathMatched = true
            return Router.found(route, parameters: parameters, requested: requested)
        }
        return pathMatched ? .methodNotAllowed : .notFound
    }

    /// The route of a plainly written path of a route without parameters (`exact`), and the
    /// version prefix it had; nil when the full lookup must decide.
    private func exactMatch(method: String, path: Substring) -> (Route, Substring?)? {
        var rest = path
        var requested: Substring?
        let bytes = path.utf8
        // `/v1.41/containers/json`: the prefix is the first segment when it is a version.
        if bytes.count > 2, bytes.first == UInt8(ascii: "/"),
           bytes[bytes.index(after: bytes.startIndex)] == UInt8(ascii: "v"),
           let slash = bytes.dropFirst().firstIndex(of: UInt8(ascii: "/")) {
            let first = path[bytes.index(after: bytes.startIndex)..<slash]
            if Router.isVersionPrefix(first) {
                requested = first.dropFirst()
                rest = path[slash...]
            }
        }
        // A plain path: no empty segment and no trailing slash (those take the full lookup).
        var previousSlash = false
        for byte in rest.utf8 {
            let slash = byte == UInt8(ascii: "/")
            if slash && previousSlash { return nil }
            previousSlash = slash
        }
        guard !previousSlash, let route = exact[method + " " + rest] else { return nil }
        return (route, requested)
    }

    /// A matched route, its version prefix checked as Docker's middleware checks it.
    private static func found(_ route: Route, parameters: [String: String], requested: Substring?) -> Match {
        var version = APIVersion.current
        if let requested {
            guard let parsed = APIVersion(requested) else {
                return .badVersion(APIError(.badRequest, "invalid API version: \(requested)"))
            }
            if parsed > APIVersion.current {
                return .badVersion(APIError(.badRequest,
                    "client version \(parsed) is too new. Maximum supported API version is \(APIVersion.current)"))
            }
            if parsed < APIVersion.minimum {
                return .badVersion(APIError(.badRequest,
                    "client version \(parsed) is too old. Minimum supported API version is \(APIVersion.minimum), please upgrade your client to a newer version"))
            }
            version = parsed
        }
        return .found(route, parameters: parameters, version: version)
    }

    /// The path's segments between slashes, empty ones left out (`path.split(separator: "/")`,
    /// cut at the bytes: a slash is one byte, and a split by characters costs more than the rest
    /// of the lookup).
    static func segments(_ path: Substring) -> [Substring] {
        var segments: [Substring] = []
        let bytes = path.utf8
        var start = bytes.startIndex
        var index = start
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: "/") {
                if index != start { segments.append(path[start..<index]) }
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        if start != bytes.endIndex { segments.append(path[start...]) }
        return segments
    }

    /// `v1.41`: a `v` and then digits and dots (at least one). ASCII is checked by its bytes;
    /// anything else as characters (a digit of another script counts, as `isNumber` says, and
    /// then fails as a version: Docker answers such a prefix with 400).
    static func isVersionPrefix(_ segment: Substring) -> Bool {
        let bytes = segment.utf8
        if bytes.allSatisfy({ $0 < 0x80 }) {
            return bytes.count > 1 && bytes.first == UInt8(ascii: "v")
                && bytes.dropFirst().allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }
        }
        return segment.count > 1 && segment.first == "v" && segment.dropFirst().allSatisfy { $0.isNumber || $0 == "." }
    }

    /// `a=1&b=x%20y&b=z` -> ["a": ["1"], "b": ["x y", "z"]].
    public static func parseQuery(_ query: Substring) -> [String: [String]] {
        var result: [String: [String]] = [:]
        var rest = query
        // Pairs are cut out in place (no arrays of parts); empty pairs (`a=1&&b`) are skipped.
        // Cut at bytes (`&` and `=` are one byte each), not characters.
        while !rest.isEmpty {
            let end = rest.utf8.firstIndex(of: UInt8(ascii: "&")) ?? rest.endIndex
            let pair = rest[..<end]
            rest = end == rest.endIndex ? rest[end...] : rest[rest.utf8.index(after: end)...]
            guard !pair.isEmpty else { continue }
            let name: String
            var value = ""
            if let equals = pair.utf8.firstIndex(of: UInt8(ascii: "=")) {
                name = percentDecode(pair[..<equals], plusIsSpace: true)
                value = percentDecode(pair[pair.utf8.index(after: equals)...], plusIsSpace: true)
            } else {
                name = percentDecode(pair, plusIsSpace: true)
            }
            result[name, default: []].append(value)
        }
        return result
    }

    /// Decodes `%XX` escapes; malformed escapes are kept as written.
    public static func percentDecode(_ text: Substring, plusIsSpace: Bool = false) -> String {
        // Most names and values have nothing to decode (`all=1`, `json`).
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) {
            return String(text)
        }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "%"), i + 2 < bytes.count,
               let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else if plusIsSpace && c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}
