import Config
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Short-name aliases (`[aliases]` in registries.conf, its drop-ins such as
/// `000-shortnames.conf`, and the alias cache `short-name-aliases.conf`) and where a reference
/// is pulled from: its `[[registry]]` table's mirrors, then its `location` (containers/image's
/// `PullSourcesFromReference`).
extension ShortNames {
    /// One place to pull a reference from, with the name it has there.
    public struct PullSource: Sendable, Equatable {
        public var reference: Reference
        public var insecure: Bool
        public var isMirror: Bool

        public init(reference: Reference, insecure: Bool, isMirror: Bool) {
            self.reference = reference
            self.insecure = insecure
            self.isMirror = isMirror
        }
    }

    /// The alias of `text` (a short name, with or without tag or digest), if any.
    public func alias(for text: String) -> String? {
        var name = Substring(text)
        if let at = name.firstIndex(of: "@") { name = name[..<at] }
        let lastSlash = name.lastIndex(of: "/")
        if let colon = name.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true { name = name[..<colon] }
        return aliases[String(name)]
    }

    /// Where to pull `reference` from, in order: the mirrors of its `[[registry]]` table that
    /// serve this kind of reference (`mirror-by-digest-only`, each mirror's `pull-from-mirror`),
    /// then the table's `location`, each with the matched prefix replaced by the location; the
    /// reference itself when no table matches (or the table has a wildcard prefix).
    public func pullSources(for reference: Reference) throws(ImageError) -> [PullSource] {
        guard let table = registry(for: reference), !table.location.isEmpty else {
            return [PullSource(reference: reference, insecure: isInsecure(reference.domain), isMirror: false)]
        }
        let byDigest = reference.digest != nil
        var sources: [PullSource] = []
        for mirror in table.mirrors {
            let serves: Bool
            if table.mirrorByDigestOnly {
                serves = byDigest
            } else {
                switch mirror.pullFromMirror {
                case "digest-only": serves = byDigest
                case "tag-only": serves = !byDigest
                default: serves = true
                }
            }
            if serves {
                sources.append(PullSource(reference: try ShortNames.rewrite(reference, table.prefix, mirror.location),
                                          insecure: mirror.insecure || ShortNames.isLoopback(String(ShortNames.host(of: mirror.location))),
                                          isMirror: true))
            }
        }
        sources.append(PullSource(reference: try ShortNames.rewrite(reference, table.prefix, table.location),
                                  insecure: table.insecure || ShortNames.isLoopback(String(ShortNames.host(of: table.location))),
                                  isMirror: false))
        return sources
    }

    /// `reference` with `prefix` (which matches it) replaced by `location`.
    static func rewrite(_ reference: Reference, _ prefix: String, _ location: String) throws(ImageError) -> Reference {
        let text = reference.description
        guard prefix != location, text.hasPrefix(prefix) else { return reference }
        let rewritten = location + text.dropFirst(prefix.count)
        do {
            return try Reference(parsing: rewritten)
        } catch {
            throw ImageError(.invalidArgument, "rewriting reference \(text) with location \(location): \(error.message)")
        }
    }

    /// containers/image's alias rules: the key a short name without tag or digest, the value a
    /// name with a registry and neither tag nor digest.
    static func checkAlias(_ key: String, _ value: String, file: String) throws(ImageError) {
        guard !Reference.hasExplicitDomain(key), let short = try? Reference(parsing: key),
              short.tag == nil, short.digest == nil else {
            throw ImageError(.invalidArgument, "\(file): invalid short name \"\(key)\": must be a short name without a registry, tag or digest")
        }
        guard Reference.hasExplicitDomain(value), let full = try? Reference(parsing: value) else {
            throw ImageError(.invalidArgument, "\(file): invalid alias value \"\(value)\" of \"\(key)\": must be a name with a registry")
        }
        guard full.tag == nil, full.digest == nil else {
            throw ImageError(.invalidArgument, "\(file): invalid alias value \"\(value)\" of \"\(key)\": must not have a tag or digest")
        }
    }

    /// The alias cache containers/image writes: `$HOME/.cache/containers/short-name-aliases.conf`,
    /// or `/var/cache/containers/short-name-aliases.conf` for root.
    public static func aliasCacheFile(environment: ConfigEnvironment) -> String {
        environment.isRoot ? "/var/cache/containers/short-name-aliases.conf"
            : environment.home + "/.cache/containers/short-name-aliases.conf"
    }

    /// Adds the cache's aliases that registries.conf does not set (its own win).
    mutating func addCachedAliases(_ cache: ShortNames) {
        for (key, value) in cache.aliases where aliases[key] == nil { setAlias(key, value) }
    }
}
