import Glibc
import Platform

/// Where credentials come from: the Docker API's X-Registry-Auth header, and the auth files
/// Podman and Docker write (`containers/auth.json`, `.docker/config.json`).
public enum CredentialStore {
    /// Docker's X-Registry-Auth header: base64url (padding optional; standard base64 also
    /// accepted) of JSON `{"username","password","auth","email","serveraddress","identitytoken",
    /// "registrytoken"}`. Empty, `{}` or all-empty fields give nil. Malformed: `.invalidArgument`.
    public static func decodeRegistryAuthHeader(_ value: String) throws(RegistryError) -> Credentials? {
        let text = value.trimmingSpaces
        guard !text.isEmpty else { return nil }
        guard let bytes = Base64.decode(text) else {
            throw RegistryError(.invalidArgument, "X-Registry-Auth: invalid base64")
        }
        let json: JSON
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw RegistryError(.invalidArgument, "X-Registry-Auth: invalid JSON: \(error.message)")
        }
        guard case .object(let members) = json else {
            throw RegistryError(.invalidArgument, "X-Registry-Auth: expected an object, found \(json.kind)")
        }
        // Go's decoder matches field names without regard to case; so do we.
        var fields: [String: String] = [:]
        for member in members {
            let key = member.key.lowercased()
            switch member.value {
            case .string(let s): fields[key] = s
            case .null: break
            default:
                guard ["username", "password", "auth", "email", "serveraddress", "identitytoken",
                       "registrytoken"].contains(key) else { continue }
                throw RegistryError(.invalidArgument,
                                    "X-Registry-Auth: \(member.key): expected a string, found \(member.value.kind)")
            }
        }
        var credentials = Credentials(username: fields["username"] ?? "", password: fields["password"] ?? "",
                                      identityToken: nonEmpty(fields["identitytoken"]),
                                      registryToken: nonEmpty(fields["registrytoken"]))
        if credentials.username.isEmpty && credentials.password.isEmpty, let auth = nonEmpty(fields["auth"]) {
            let (user, password) = try decodeAuthField(auth, source: "X-Registry-Auth")
            credentials.username = user
            credentials.password = password
        }
        return credentials.isEmpty ? nil : credentials
    }

    /// Looks `host` up in auth.json-style files; the first file with a matching entry wins.
    /// Keys are "host", "host/namespace/repo" (the most specific prefix of "host/repository"
    /// wins) or URLs ("https://host", "http://host/v1/": scheme and path are dropped). docker.io
    /// also matches index.docker.io and registry-1.docker.io. Missing files are skipped; a
    /// malformed file is an error naming it.
    public static func lookup(registry host: String, repository: String,
                              files: [String]) throws(RegistryError) -> Credentials? {
        let hosts = aliases(of: host)
        for file in files {
            let bytes: [UInt8]
            do {
                bytes = try FileSystem.readFile(file, limit: 4 << 20)
            } catch {
                if error.errno == ENOENT || error.errno == ENOTDIR { continue }
                throw RegistryError(.invalidArgument, "reading credentials: \(error)")
            }
            if let found = try lookup(hosts: hosts, repository: repository, in: bytes, file: file) {
                return found
            }
        }
        return nil
    }

    /// Podman's order: $REGISTRY_AUTH_FILE alone when set; else
    /// $XDG_RUNTIME_DIR/containers/auth.json, $XDG_CONFIG_HOME (or $HOME/.config)/containers/auth.json,
    /// $HOME/.docker/config.json.
    public static func defaultFiles(environment: [String: String]) -> [String] {
        if let file = nonEmpty(environment["REGISTRY_AUTH_FILE"]) { return [file] }
        var files: [String] = []
        if let runtime = nonEmpty(environment["XDG_RUNTIME_DIR"]) {
            files.append(runtime + "/containers/auth.json")
        }
        let home = nonEmpty(environment["HOME"])
        if let config = nonEmpty(environment["XDG_CONFIG_HOME"]) {
            files.append(config + "/containers/auth.json")
        } else if let home {
            files.append(home + "/.config/containers/auth.json")
        }
        if let home { files.append(home + "/.docker/config.json") }
        return files
    }

    // MARK: - Parts

    /// The names one registry goes by in auth files.
    static func aliases(of host: String) -> Set<String> {
        let dockerHub: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io"]
        return dockerHub.contains(host) ? dockerHub : [host]
    }

    /// The entry of one parsed file that matches best, or nil.
    static func lookup(hosts: Set<String>, repository: String, in bytes: [UInt8],
                       file: String) throws(RegistryError) -> Credentials? {
        let json: JSON
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw RegistryError(.invalidArgument, "\(file): invalid JSON: \(error.message)")
        }
        guard case .object = json else {
            throw RegistryError(.invalidArgument, "\(file): expected an object, found \(json.kind)")
        }
        guard let auths = json["auths"], auths != .null else { return nil }
        guard case .object(let entries) = auths else {
            throw RegistryError(.invalidArgument, "\(file): auths: expected an object, found \(auths.kind)")
        }
        // Longest matching key wins: "host/ns/repo" over "host/ns" over "host".
        var best: (length: Int, entry: JSON.Member)?
        for entry in entries {
            guard let matched = matchLength(key: entry.key, hosts: hosts, repository: repository) else { continue }
            if best == nil || matched > best!.length { best = (matched, entry) }
        }
        guard let best else { return nil }
        let path = "auths.\(best.entry.key)"
        guard case .object = best.entry.value else {
            throw RegistryError(.invalidArgument, "\(file): \(path): expected an object, found \(best.entry.value.kind)")
        }
        func field(_ name: String) throws(RegistryError) -> String? {
            guard let value = best.entry.value[name], value != .null else { return nil }
            guard case .string(let s) = value else {
                throw RegistryError(.invalidArgument, "\(file): \(path).\(name): expected a string, found \(value.kind)")
            }
            return nonEmpty(s)
        }
        var credentials = Credentials(username: try field("username") ?? "", password: try field("password") ?? "",
                                      identityToken: try field("identitytoken"),
                                      registryToken: try field("registrytoken"))
        if let auth = try field("auth") {
            let (user, password) = try decodeAuthField(auth, source: "\(file): \(path).auth")
            credentials.username = user
            credentials.password = password
        }
        return credentials.isEmpty ? nil : credentials
    }

    /// How much of "host/repository" an auth-file key covers, or nil when it does not match.
    static func matchLength(key: String, hosts: Set<String>, repository: String) -> Int? {
        var name = Substring(key)
        var isURL = false
        for scheme in ["https://", "http://"] where name.hasPrefix(scheme) {
            name = name.dropFirst(scheme.count)
            isURL = true
        }
        if isURL, let slash = name.firstIndex(of: "/") { name = name[..<slash] }
        while name.hasSuffix("/") { name = name.dropLast() }
        let host: Substring
        let path: Substring
        if let slash = name.firstIndex(of: "/") {
            host = name[..<slash]
            path = name[name.index(after: slash)...]
        } else {
            host = name
            path = ""
        }
        guard hosts.contains(String(host)) else { return nil }
        if path.isEmpty { return 0 }
        guard repository == path || repository.hasPrefix(path + "/") else { return nil }
        return path.count
    }

    /// "user:password" in base64, as the `auth` fields carry it.
    static func decodeAuthField(_ auth: String, source: String) throws(RegistryError) -> (String, String) {
        guard let bytes = Base64.decode(auth.trimmingSpaces), let text = String(validating: bytes, as: UTF8.self) else {
            throw RegistryError(.invalidArgument, "\(source): invalid base64")
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw RegistryError(.invalidArgument, "\(source): expected base64 of user:password")
        }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    static func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line ends.
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
