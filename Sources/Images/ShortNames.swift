import Config
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// How short names (no registry) resolve, and what `registries.conf` says about registries.
///
/// Docker resolves a short name on `docker.io`. When `registries.conf` (containers/image's
/// `sysregistriesv2` format) lists `unqualified-search-registries`, the candidates are those
/// registries in order. `[[registry]]` tables say which registries are insecure or blocked and
/// which mirrors they have. Parsing works on strings (`init(parsing:file:)`); `load` reads files.
public struct ShortNames: Sendable, Equatable {
    /// A place to pull from: the registry itself or one of its mirrors.
    public struct Endpoint: Sendable, Equatable {
        /// `host[:port][/namespace]`.
        public var location: String
        /// TLS verification off and plain HTTP allowed.
        public var insecure: Bool
        /// A mirror's `pull-from-mirror`: `all` (nil), `digest-only` or `tag-only`.
        public var pullFromMirror: String?

        public init(location: String, insecure: Bool = false, pullFromMirror: String? = nil) {
            self.location = location
            self.insecure = insecure
            self.pullFromMirror = pullFromMirror
        }
    }

    /// One `[[registry]]` table.
    public struct Registry: Sendable, Equatable {
        /// What references it applies to (`example.com/ns`, or `*.example.com`); defaults to `location`.
        public var prefix: String
        /// Where matching references are pulled from (empty for a wildcard prefix).
        public var location: String
        public var insecure: Bool
        public var blocked: Bool
        public var mirrorByDigestOnly: Bool
        public var mirrors: [Endpoint]

        public init(prefix: String, location: String, insecure: Bool = false, blocked: Bool = false,
                    mirrorByDigestOnly: Bool = false, mirrors: [Endpoint] = []) {
            self.prefix = prefix
            self.location = location
            self.insecure = insecure
            self.blocked = blocked
            self.mirrorByDigestOnly = mirrorByDigestOnly
            self.mirrors = mirrors
        }
    }

    /// The search list; nil when no file set the key (a drop-in then leaves it alone).
    public private(set) var unqualifiedSearchRegistries: [String]?
    public private(set) var registries: [Registry]
    /// `[aliases]`: short name (no registry, tag or digest) -> fully qualified name.
    public private(set) var aliases: [String: String]

    mutating func setAlias(_ key: String, _ value: String) { aliases[key] = value }
    /// `short-name-mode`: `enforcing`, `permissive` or `disabled`; nil when no file set it.
    public private(set) var shortNameMode: String?

    public init(unqualifiedSearchRegistries: [String]? = nil, registries: [Registry] = [],
                aliases: [String: String] = [:], shortNameMode: String? = nil) {
        self.unqualifiedSearchRegistries = unqualifiedSearchRegistries
        self.registries = registries
        self.aliases = aliases
        self.shortNameMode = shortNameMode
    }

    // MARK: Resolving

    /// The references to try for `text`, in order. A name with a registry is itself; a short
    /// name with an alias is the alias (with the name's tag or digest); another short name is
    /// tried on each unqualified-search registry, or on `docker.io` when there are none. With
    /// `short-name-mode = "enforcing"` and more than one search registry, a short name without
    /// an alias is refused, as containers/image refuses it without a terminal to ask on.
    /// Errors are `Reference`'s (Docker's words).
    public func candidates(for text: String) throws(ImageError) -> [Reference] {
        let reference = try Reference(parsing: text)
        if Reference.hasExplicitDomain(text) { return [reference] }
        if let alias = alias(for: text) {
            var resolved = try Reference(parsing: alias)
            if let digest = reference.digest { resolved = try resolved.withDigest(digest) }
            if let tag = reference.tag { resolved = try resolved.withTag(tag) }
            return [resolved]
        }
        guard let search = unqualifiedSearchRegistries, !search.isEmpty else { return [reference] }
        if search.count > 1 && shortNameMode == "enforcing" {
            throw ImageError(.invalidArgument, "short-name resolution enforced but cannot prompt without a TTY")
        }
        var result: [Reference] = []
        for registry in search {
            let candidate = try Reference(parsing: registry + "/" + text)
            if !result.contains(candidate) { result.append(candidate) }
        }
        return result
    }

    /// The `[[registry]]` table with the longest prefix matching `reference`, if any.
    public func registry(for reference: Reference) -> Registry? {
        registry(matching: reference.description)
    }

    /// True when pulls of `reference` are blocked by `registries.conf`.
    public func isBlocked(_ reference: Reference) -> Bool {
        registry(for: reference)?.blocked ?? false
    }

    /// True when `registry` (`host[:port]`) may be reached over plain HTTP without TLS checks:
    /// marked `insecure` in `registries.conf` (as a registry or a mirror), or a loopback address
    /// (`localhost`, 127.0.0.0/8, `[::1]`), which Skiff always allows.
    public func isInsecure(_ registry: String) -> Bool {
        if ShortNames.isLoopback(registry) { return true }
        if let table = self.registry(matching: registry), table.insecure { return true }
        for table in registries {
            for endpoint in [Endpoint(location: table.location, insecure: table.insecure)] + table.mirrors
            where endpoint.insecure && ShortNames.host(of: endpoint.location) == registry {
                return true
            }
        }
        return false
    }

    /// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
    public static func isLoopback(_ registry: String) -> Bool {
        var host = Substring(registry)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let inside = host[host.index(after: host.startIndex)..<close]
            return inside == "::1" || inside == "0:0:0:0:0:0:0:1"
        }
        if let colon = host.firstIndex(of: ":") { host = host[..<colon] }
        if host.lowercased() == "localhost" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets[0] == "127" else { return false }
        return octets.allSatisfy { octet in
            !octet.isEmpty && octet.count <= 3 && octet.utf8.allSatisfy(Grammar.isDigit) && Int(octet)! <= 255
        }
    }

    /// The registry part of a location (`host[:port]`).
    static func host(of location: String) -> Substring {
        location.firstIndex(of: "/").map { location[..<$0] } ?? location[...]
    }

    /// Longest matching prefix wins (containers/image's `FindRegistry`).
    func registry(matching reference: String) -> Registry? {
        var best: Registry?
        var bestLength = 0
        for table in registries {
            if let length = ShortNames.matchingPrefixLength(reference, table.prefix), length > bestLength {
                best = table
                bestLength = length
            }
        }
        return best
    }

    /// How much of `reference` `prefix` covers, nil when it does not match. A plain prefix must
    /// end at `/`, `:` or `@` in the reference; `*.example.com` matches hosts under example.com.
    static func matchingPrefixLength(_ reference: String, _ prefix: String) -> Int? {
        if prefix.hasPrefix("*.") {
            let host = reference.firstIndex(of: "/").map { reference[..<$0] } ?? reference[...]
            return host.hasSuffix(prefix.dropFirst()) ? prefix.utf8.count : nil
        }
        guard reference.hasPrefix(prefix) else { return nil }
        let rest = reference.utf8.dropFirst(prefix.utf8.count)
        guard let next = rest.first else { return prefix.utf8.count }
        return next == UInt8(ascii: "/") || next == UInt8(ascii: ":") || next == UInt8(ascii: "@") ? prefix.utf8.count : nil
    }

    // MARK: Parsing

    /// Parses one `registries.conf` (version 2; version 1's `[registries.search]`,
    /// `[registries.insecure]` and `[registries.block]` are converted). `file` names it in errors.
    public init(parsing text: String, file: String) throws(ImageError) {
        let table: TOMLTable
        do {
            table = try TOMLParser.parse(text)
        } catch let error as TOMLError {
            throw ImageError(.invalidArgument, "\(file):\(error.line): \(error.message)")
        } catch {
            throw ImageError(.invalidArgument, "\(file): \(error)")
        }
        var aliases: [String: String] = [:]
        if let entry = table["aliases"] {
            guard case .table(let t) = entry.value else { throw ShortNames.typeError(file, entry, "aliases", "a table") }
            for key in t.keys {
                let value = try ShortNames.string(t[key], key: "aliases.\(key)", file: file) ?? ""
                try ShortNames.checkAlias(key, value, file: file)
                aliases[key] = value
            }
        }
        var mode: String?
        if let entry = table["short-name-mode"] {
            mode = try ShortNames.string(entry, key: "short-name-mode", file: file)
            guard ["enforcing", "permissive", "disabled"].contains(mode ?? "") else {
                throw ImageError(.invalidArgument, "\(file):\(entry.line): invalid short-name mode: \"\(mode ?? "")\"")
            }
        }
        var search: [String]?
        if let entry = table["unqualified-search-registries"] {
            search = try ShortNames.strings(entry, key: "unqualified-search-registries", file: file)
        }
        var registries: [Registry] = []
        if let entry = table["registry"] {
            guard case .array(let items) = entry.value else {
                throw ShortNames.typeError(file, entry, "registry", "an array of tables")
            }
            for item in items {
                guard case .table(let t) = item else {
                    throw ShortNames.typeError(file, entry, "registry", "an array of tables")
                }
                registries.append(try ShortNames.registry(t, file: file, line: entry.line))
            }
        }
        if let entry = table["registries"] {
            guard search == nil && registries.isEmpty else {
                throw ImageError(.invalidArgument, "\(file):\(entry.line): mixing sysregistry v1/v2 is not supported")
            }
            (search, registries) = try ShortNames.convertVersion1(entry, file: file)
        }
        for (i, registry) in (search ?? []).enumerated() {
            let trimmed = try ShortNames.location(registry, file: file, line: table["unqualified-search-registries"]?.line)
            guard Grammar.isDomain(trimmed.utf8[...]) else {
                throw ImageError(.invalidArgument, "\(file): Invalid unqualified-search-registries entry \"\(trimmed)\"")
            }
            search![i] = trimmed
        }
        try ShortNames.checkConflicts(registries, file: file)
        // The first table of a prefix wins; later ones could never match.
        var seen: Set<String> = []
        self.registries = registries.filter { seen.insert($0.prefix).inserted }
        self.unqualifiedSearchRegistries = search
        self.aliases = aliases
        self.shortNameMode = mode
    }

    /// Applies a later file (a drop-in): its search list replaces this one when it sets one;
    /// its registries replace those with the same prefix, and new ones follow, sorted by prefix.
    public mutating func merge(_ later: ShortNames) {
        if let search = later.unqualifiedSearchRegistries { unqualifiedSearchRegistries = search }
        if let mode = later.shortNameMode { shortNameMode = mode }
        aliases.merge(later.aliases) { _, new in new }
        var added: [Registry] = []
        for table in later.registries {
            if let i = registries.firstIndex(where: { $0.prefix == table.prefix }) {
                registries[i] = table
            } else {
                added.append(table)
            }
        }
        registries += added.sorted { $0.prefix < $1.prefix }
    }

    private static func registry(_ t: TOMLTable, file: String, line: Int) throws(ImageError) -> Registry {
        let locationLine = t["location"]?.line ?? line
        var location = try string(t["location"], key: "location", file: file) ?? ""
        var prefix = try string(t["prefix"], key: "prefix", file: file) ?? ""
        if prefix.isEmpty {
            location = try self.location(location, file: file, line: locationLine)
            prefix = location
        } else {
            prefix = try self.location(prefix, file: file, line: t["prefix"]?.line ?? line)
            if prefix.hasPrefix("*.") {
                guard location.isEmpty else {
                    throw ImageError(.invalidArgument, "\(file):\(locationLine): pull-through using a wildcarded prefix \"\(prefix)\" is not supported")
                }
            } else {
                location = location.isEmpty ? prefix : try self.location(location, file: file, line: locationLine)
            }
        }
        var mirrors: [Endpoint] = []
        if let entry = t["mirror"] {
            guard case .array(let items) = entry.value else { throw typeError(file, entry, "mirror", "an array of tables") }
            for item in items {
                guard case .table(let m) = item else { throw typeError(file, entry, "mirror", "an array of tables") }
                let mirrorLine = m["location"]?.line ?? entry.line
                let mirrorLocation = try self.location(try string(m["location"], key: "location", file: file) ?? "",
                                                       file: file, line: mirrorLine)
                let usage = try string(m["pull-from-mirror"], key: "pull-from-mirror", file: file)
                if let usage {
                    guard ["all", "digest-only", "tag-only"].contains(usage) else {
                        throw ImageError(.invalidArgument, "\(file):\(mirrorLine): unsupported pull-from-mirror value \"\(usage)\" for mirror \(mirrorLocation)")
                    }
                    if try bool(t["mirror-by-digest-only"], key: "mirror-by-digest-only", file: file) == true {
                        throw ImageError(.invalidArgument, "\(file):\(mirrorLine): cannot set mirror usage mirror-by-digest-only for the registry (\(location)) and pull-from-mirror for per-mirror (\(mirrorLocation)) at the same time")
                    }
                }
                mirrors.append(Endpoint(location: mirrorLocation,
                                        insecure: try bool(m["insecure"], key: "insecure", file: file) ?? false,
                                        pullFromMirror: usage == "all" ? nil : usage))
            }
        }
        return Registry(prefix: prefix, location: location,
                        insecure: try bool(t["insecure"], key: "insecure", file: file) ?? false,
                        blocked: try bool(t["blocked"], key: "blocked", file: file) ?? false,
                        mirrorByDigestOnly: try bool(t["mirror-by-digest-only"], key: "mirror-by-digest-only", file: file) ?? false,
                        mirrors: mirrors)
    }

    /// containers/image's `parseLocation`: trailing `/` dropped, not empty, no URL scheme.
    private static func location(_ text: String, file: String, line: Int?) throws(ImageError) -> String {
        var trimmed = Substring(text)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let at = line.map { "\(file):\($0)" } ?? file
        if trimmed.isEmpty {
            throw ImageError(.invalidArgument, "\(at): invalid location: cannot be empty")
        }
        if trimmed.hasPrefix("http://") || trimmed.hasPrefix("https://") {
            throw ImageError(.invalidArgument, "\(at): invalid location '\(text)': URI schemes are not supported")
        }
        return String(trimmed)
    }

    /// One location listed twice with different `insecure` or `blocked` is an error.
    private static func checkConflicts(_ registries: [Registry], file: String) throws(ImageError) {
        for (i, a) in registries.enumerated() {
            for b in registries[..<i] where a.location == b.location && !a.location.isEmpty {
                if a.insecure != b.insecure {
                    throw ImageError(.invalidArgument, "\(file): registry '\(a.location)' is defined multiple times with conflicting 'insecure' setting")
                }
                if a.blocked != b.blocked {
                    throw ImageError(.invalidArgument, "\(file): registry '\(a.location)' is defined multiple times with conflicting 'blocked' setting")
                }
            }
        }
    }

    /// Version 1: `[registries.search] registries = [...]`, likewise `insecure` and `block`.
    private static func convertVersion1(_ entry: TOMLTable.Entry, file: String) throws(ImageError) -> ([String]?, [Registry]) {
        guard case .table(let v1) = entry.value else { throw typeError(file, entry, "registries", "a table") }
        func list(_ key: String) throws(ImageError) -> [String] {
            guard let section = v1[key] else { return [] }
            guard case .table(let t) = section.value else { throw typeError(file, section, "registries.\(key)", "a table") }
            return try strings(t["registries"], key: "registries.\(key).registries", file: file) ?? []
        }
        var registries: [Registry] = []
        func upsert(_ location: String, _ change: (inout Registry) -> Void) throws(ImageError) {
            let location = try self.location(location, file: file, line: entry.line)
            if let i = registries.firstIndex(where: { $0.location == location }) {
                change(&registries[i])
            } else {
                var table = Registry(prefix: location, location: location)
                change(&table)
                registries.append(table)
            }
        }
        for location in try list("block") { try upsert(location) { $0.blocked = true } }
        for location in try list("insecure") { try upsert(location) { $0.insecure = true } }
        let search = try list("search")
        return (search.isEmpty && v1["search"] == nil ? nil : search, registries)
    }

    static func typeError(_ file: String, _ entry: TOMLTable.Entry, _ key: String, _ expected: String) -> ImageError {
        ImageError(.invalidArgument, "\(file):\(entry.line): \(key) must be \(expected), not \(entry.value.typeName)")
    }

    static func string(_ entry: TOMLTable.Entry?, key: String, file: String) throws(ImageError) -> String? {
        guard let entry else { return nil }
        guard case .string(let value) = entry.value else { throw typeError(file, entry, key, "a string") }
        return value
    }

    private static func bool(_ entry: TOMLTable.Entry?, key: String, file: String) throws(ImageError) -> Bool? {
        guard let entry else { return nil }
        guard case .bool(let value) = entry.value else { throw typeError(file, entry, key, "a boolean") }
        return value
    }

    private static func strings(_ entry: TOMLTable.Entry?, key: String, file: String) throws(ImageError) -> [String]? {
        guard let entry else { return nil }
        guard case .array(let items) = entry.value else { throw typeError(file, entry, key, "an array of strings") }
        var result: [String] = []
        for item in items {
            guard case .string(let value) = item else { throw typeError(file, entry, key, "an array of strings") }
            result.append(value)
        }
        return result
    }

    // MARK: Files

    /// A file to read, and whether it must exist.
    public struct File: Sendable, Equatable {
        public var path: String
        /// Named by `CONTAINERS_REGISTRIES_CONF`: missing is an error, not a skip.
        public var required: Bool

        public init(path: String, required: Bool = false) {
            self.path = path
            self.required = required
        }
    }

    /// The files in containers/image's order. The main file is `CONTAINERS_REGISTRIES_CONF`,
    /// else (non-root) `$XDG_CONFIG_HOME/containers/registries.conf` when it exists, else
    /// `/etc/containers/registries.conf`. Then the drop-ins, `*.conf` in name order:
    /// `/etc/containers/registries.conf.d` (skipped when the user's own file is the main file)
    /// and, for non-root, `$XDG_CONFIG_HOME/containers/registries.conf.d`.
    /// `exists` and `entries` are the file system, injected for tests.
    public static func files(environment: ConfigEnvironment,
                             exists: (String) -> Bool,
                             entries: (String) -> [String]?) -> [File] {
        let systemDirectory = environment.systemDirectories.last ?? "/etc/containers"
        let userDirectory = (environment.variable("XDG_CONFIG_HOME") ?? environment.home + "/.config") + "/containers"
        func dropIns(_ dir: String) -> [File] {
            let names = (entries(dir) ?? []).filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }
            return names.sorted().map { File(path: dir + "/" + $0) }
        }
        var files: [File] = []
        if let only = environment.variable("CONTAINERS_REGISTRIES_CONF") {
            files.append(File(path: only, required: true))
        } else if !environment.isRoot && exists(userDirectory + "/registries.conf") {
            return [File(path: userDirectory + "/registries.conf")] + dropIns(userDirectory + "/registries.conf.d")
        } else {
            files.append(File(path: systemDirectory + "/registries.conf"))
        }
        files += dropIns(systemDirectory + "/registries.conf.d")
        if !environment.isRoot {
            files += dropIns(userDirectory + "/registries.conf.d")
        }
        return files
    }

    /// Reads and merges every file of `files(environment:...)`; missing optional files are skipped.
    public static func load(environment: ConfigEnvironment = .current()) throws(ImageError) -> ShortNames {
        let list = files(environment: environment,
                         exists: { access($0, F_OK) == 0 },
                         entries: { FileSystem.directoryEntries($0) })
        var result = ShortNames()
        for file in list {
            let bytes: [UInt8]
            do {
                bytes = try FileSystem.readFile(file.path)
            } catch {
                if error.errno == ENOENT && !file.required { continue }
                throw ImageError(.io, "read registries configuration \(file.path): \(error.text)")
            }
            result.merge(try ShortNames(parsing: String(decoding: bytes, as: UTF8.self), file: file.path))
        }
        let cache = aliasCacheFile(environment: environment)
        if let bytes = try? FileSystem.readFile(cache) {
            result.addCachedAliases(try ShortNames(parsing: String(decoding: bytes, as: UTF8.self), file: cache))
        }
        return result
    }
}
