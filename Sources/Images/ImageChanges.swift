import Platform

/// The Dockerfile instructions `docker import --change` and `docker commit --change` apply to an
/// image's config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR.
/// JSON forms (`CMD ["sh"]`) are taken as arrays; shell forms (`CMD echo hi`) run under
/// `/bin/sh -c`, as the builder does.
public enum ImageChanges {
    /// Applies `changes` in order to `container`; a bad or unsupported line is an
    /// `.invalidArgument` error worded as moby's.
    public static func apply(_ changes: [String], to container: inout ImageConfig.Container) throws(ImageError) {
        for change in changes {
            let line = trim(Substring(change))
            if line.isEmpty { continue }
            let keywordEnd = line.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? line.endIndex
            let keyword = line[..<keywordEnd].uppercased()
            let rest = trim(line[keywordEnd...])
            switch keyword {
            case "CMD":
                container.cmd = try command(rest, keyword)
            case "ENTRYPOINT":
                container.entrypoint = try command(rest, keyword)
            case "ENV":
                for (name, value) in try pairs(rest, keyword) {
                    var env = (container.env ?? []).filter { !$0.hasPrefix(name + "=") && $0 != name }
                    env.append(name + "=" + value)
                    container.env = env
                }
            case "LABEL":
                for (name, value) in try pairs(rest, keyword) {
                    var labels = container.labels ?? [:]
                    labels[name] = value
                    container.labels = labels
                }
            case "EXPOSE":
                for port in rest.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                    let spec = port.contains("/") ? String(port).lowercased() : port + "/tcp"
                    let parts = spec.split(separator: "/")
                    guard parts.count == 2, let number = Int(parts[0]), (1...65535).contains(number),
                          ["tcp", "udp", "sctp"].contains(parts[1]) else {
                        throw ImageError(.invalidArgument, "invalid containerPort: \(port)")
                    }
                    container.exposedPorts = Array(Set((container.exposedPorts ?? []) + [spec])).sorted()
                }
            case "VOLUME":
                let paths = rest.hasPrefix("[") ? try jsonArray(rest, keyword)
                    : rest.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard !paths.isEmpty, paths.allSatisfy({ !$0.isEmpty }) else {
                    throw ImageError(.invalidArgument, "VOLUME specified can not be an empty string")
                }
                container.volumes = Array(Set((container.volumes ?? []) + paths)).sorted()
            case "USER", "WORKDIR", "STOPSIGNAL":
                guard !rest.isEmpty else { throw ImageError(.invalidArgument, "\(keyword) requires exactly one argument") }
                if keyword == "USER" { container.user = String(rest) }
                else if keyword == "STOPSIGNAL" { container.stopSignal = String(rest) }
                else {
                    let current = container.workingDir ?? "/"
                    container.workingDir = rest.hasPrefix("/") ? String(rest)
                        : (current.hasSuffix("/") ? current : current + "/") + rest
                }
            default:
                throw ImageError(.invalidArgument, "\(keyword) is not a valid change command")
            }
        }
    }

    private static func command(_ text: Substring, _ keyword: String) throws(ImageError) -> [String] {
        if text.hasPrefix("[") { return try jsonArray(text, keyword) }
        return ["/bin/sh", "-c", String(text)]
    }

    private static func jsonArray(_ text: Substring, _ keyword: String) throws(ImageError) -> [String] {
        guard let value = try? JSONParser.parse(Array(text.utf8)), case .array(let items) = value else {
            throw ImageError(.invalidArgument, "\(keyword): not a JSON array of strings: \(text)")
        }
        var result: [String] = []
        for item in items {
            guard case .string(let s) = item else {
                throw ImageError(.invalidArgument, "\(keyword): not a JSON array of strings: \(text)")
            }
            result.append(s)
        }
        return result
    }

    /// `a=1 b="x y"` or the legacy `NAME value with spaces`.
    private static func pairs(_ text: Substring, _ keyword: String) throws(ImageError) -> [(String, String)] {
        guard !text.isEmpty else { throw ImageError(.invalidArgument, "\(keyword) requires at least one argument") }
        let firstSpace = text.firstIndex(where: { $0 == " " || $0 == "\t" })
        let firstEquals = text.firstIndex(of: "=")
        if firstEquals == nil || (firstSpace != nil && firstSpace! < firstEquals!) {
            // Legacy form: one name, the rest is the value.
            guard let space = firstSpace else {
                throw ImageError(.invalidArgument, "\(keyword) must have two arguments")
            }
            return [(String(text[..<space]), String(trim(text[space...])))]
        }
        var result: [(String, String)] = []
        var i = text.startIndex
        while i < text.endIndex {
            while i < text.endIndex, text[i] == " " || text[i] == "\t" { i = text.index(after: i) }
            if i == text.endIndex { break }
            var word = ""
            var quote: Character?
            while i < text.endIndex {
                let c = text[i]
                if let q = quote {
                    if c == q { quote = nil }
                    else if c == "\\", q == "\"", text.index(after: i) < text.endIndex {
                        i = text.index(after: i)
                        word.append(text[i])
                    } else { word.append(c) }
                } else if c == "\"" || c == "'" {
                    quote = c
                } else if c == " " || c == "\t" {
                    break
                } else if c == "\\", text.index(after: i) < text.endIndex {
                    i = text.index(after: i)
                    word.append(text[i])
                } else {
                    word.append(c)
                }
                i = text.index(after: i)
            }
            guard quote == nil else { throw ImageError(.invalidArgument, "\(keyword): unmatched quote in \(text)") }
            guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                throw ImageError(.invalidArgument, "\(keyword) names can not be blank")
            }
            result.append((String(word[..<equals]), String(word[word.index(after: equals)...])))
        }
        return result
    }

    private static func trim(_ s: Substring) -> Substring {
        var s = s
        while let c = s.first, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\n" || c == "\r" { s.removeLast() }
        return s
    }
}
