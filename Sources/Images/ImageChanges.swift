import Platform

/// The Dockerfile instructions `docker import --change` and `docker commit --change` apply to an
/// image's config (moby's `validCommitCommands`): CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,
/// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
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
            case "HEALTHCHECK":
                container.healthcheck = try healthcheck(rest)
            case "ONBUILD":
                let trigger = rest.prefix { $0 != " " && $0 != "\t" }.uppercased()
                switch trigger {
                case "": throw ImageError(.invalidArgument, "ONBUILD requires at least one argument")
                case "ONBUILD": throw ImageError(.invalidArgument, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
                case "MAINTAINER", "FROM": throw ImageError(.invalidArgument, "\(trigger) isn't allowed as an ONBUILD trigger")
                default: container.onBuild = (container.onBuild ?? []) + [String(rest)]
                }
            default:
                throw ImageError(.invalidArgument, "\(keyword) is not a valid change command")
            }
        }
    }

    /// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D]
    /// [--start-interval=D] [--retries=N] CMD command`, with the builder's checks and words.
    private static func healthcheck(_ text: Substring) throws(ImageError) -> ImageConfig.Healthcheck {
        var rest = text
        var durations: [String: Int64] = [:]
        var retries: Int64?
        while rest.hasPrefix("--") {
            let word = rest.prefix { $0 != " " && $0 != "\t" }
            rest = trim(rest.dropFirst(word.count))
            let parts = word.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count == 2 ? String(parts[1]) : ""
            switch name {
            case "interval", "timeout", "start-period", "start-interval":
                guard let nanos = GoDuration.nanoseconds(value) else {
                    throw ImageError(.invalidArgument, "time: invalid duration \"\(value)\"")
                }
                if nanos < 0 { throw ImageError(.invalidArgument, "Interval \"\(name)\" cannot be negative") }
                if nanos > 0 && nanos < 1_000_000 {
                    throw ImageError(.invalidArgument, "Interval \"\(name)\" cannot be less than 1ms")
                }
                durations[name] = nanos
            case "retries":
                guard let number = Int64(value) else {
                    throw ImageError(.invalidArgument, "strconv.ParseInt: parsing \"\(value)\": invalid syntax")
                }
                if number < 0 { throw ImageError(.invalidArgument, "--retries cannot be negative (\(number))") }
                retries = number
            default:
                throw ImageError(.invalidArgument, "Unknown flag: \(name)")
            }
        }
        let typeEnd = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? rest.endIndex
        let type = rest[..<typeEnd].uppercased()
        let command = trim(rest[typeEnd...])
        switch type {
        case "NONE":
            guard command.isEmpty, durations.isEmpty, retries == nil else {
                throw ImageError(.invalidArgument, "HEALTHCHECK NONE takes no arguments")
            }
            return ImageConfig.Healthcheck(test: ["NONE"])
        case "CMD":
            guard !command.isEmpty else { throw ImageError(.invalidArgument, "Missing command after HEALTHCHECK CMD") }
            let test = command.hasPrefix("[") ? ["CMD"] + (try jsonArray(command, "HEALTHCHECK")) : ["CMD-SHELL", String(command)]
            return ImageConfig.Healthcheck(test: test, interval: durations["interval"], timeout: durations["timeout"],
                                           startPeriod: durations["start-period"],
                                           startInterval: durations["start-interval"], retries: retries)
        case "":
            throw ImageError(.invalidArgument, "HEALTHCHECK requires at least one argument")
        default:
            throw ImageError(.invalidArgument, "Unknown type \"\(type)\" in HEALTHCHECK (try CMD)")
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
