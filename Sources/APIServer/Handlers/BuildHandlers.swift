import Images
import Platform

/// `POST /build` (moby's `ImageBuild`) and `POST /build/cancel` (`POST /build/prune` empties the
/// cache in `SystemDataHandlers`): the query
/// decoded and checked here, the build run by `Engine.build` (`Builder.swift`). The answer is
/// moby's JSON message stream: `stream` lines, `aux` with the image id, and an `errorDetail`
/// for a failure after the first message (before it, the response's status and message).
enum BuildHandlers {
    @Sendable static func imageBuild(_ request: Request, _ engine: Engine) throws -> Response {
        var build = Engine.BuildRequest()
        if let dockerfile = request.queryValue("dockerfile"), !dockerfile.isEmpty { build.dockerfile = dockerfile }
        if let remote = request.queryValue("remote"), !remote.isEmpty {
            throw EngineError(.invalidArgument, "remote build contexts (\(remote)) are not supported: send the context as a tar")
        }
        for tag in request.query["t"] ?? [] where !tag.isEmpty {
            do {
                let reference = try Reference(parsing: tag)
                guard reference.digest == nil else { throw EngineError(.invalidArgument, "invalid reference format: \(tag)") }
                build.tags.append(reference.withDefaultTag.normalized)
            } catch let error as ImageError {
                throw EngineError(.invalidArgument, "invalid reference format: \(error.message)")
            }
        }
        build.buildArgs = try stringMap(request.queryValue("buildargs"), "buildargs").mapValues { $0 }
        build.labels = try stringMap(request.queryValue("labels"), "labels").mapValues { $0 ?? "" }
        build.target = request.queryValue("target") ?? ""
        build.quiet = request.queryBool("q")
        build.noCache = request.queryBool("nocache")
        build.remove = request.queryValue("rm").map { _ in request.queryBool("rm") } ?? true
        build.forceRemove = request.queryBool("forcerm")
        // What the classic builder here does not do, refused by name rather than ignored.
        if request.queryBool("squash") {
            throw EngineError(.invalidArgument, "squash is not supported by this builder: build without --squash")
        }
        if request.queryBool("pull") {
            throw EngineError(.invalidArgument, "pull is not supported by this builder: pull the base image first, then build without --pull")
        }
        if let mode = request.queryValue("networkmode"), !["", "default", "bridge"].contains(mode) {
            throw EngineError(.invalidArgument, "networkmode \(mode) is not supported by this builder: RUN steps use the default network")
        }
        if let hosts = request.queryValue("extrahosts"), !hosts.isEmpty, hosts != "[]", hosts != "null" {
            throw EngineError(.invalidArgument, "extrahosts is not supported by this builder")
        }
        if let from = request.queryValue("cachefrom"), !from.isEmpty, from != "[]", from != "null" {
            throw EngineError(.invalidArgument, "cachefrom is not supported by this builder: the local build cache is used")
        }
        if let platform = request.queryValue("platform"), !platform.isEmpty,
           platform != "linux/\(Descriptor.Platform.hostArchitecture)", platform != "linux" {
            throw EngineError(.invalidArgument, "platform \(platform) is not supported by this builder: only linux/\(Descriptor.Platform.hostArchitecture) is built")
        }
        // X-Registry-Config: credentials by registry (base64 JSON, as the CLI sends them) for
        // the FROM images a build pulls.
        if let header = request.header("X-Registry-Config"), !header.isEmpty {
            guard let bytes = base64Decode(header), let json = try? JSONParser.parse(bytes) else {
                throw EngineError(.invalidArgument, "X-Registry-Config: not base64-encoded JSON")
            }
            if case .object(let members) = json {
                for member in members { build.registryAuth[registryHost(member.key)] = base64(member.value.bytes) }
            }
        }
        guard let body = request.spooled else {
            throw EngineError(.invalidArgument, "the request body is empty: send the build context as a tar")
        }
        let options = build
        return Response(headers: [("Content-Type", "application/json")]) { writer in
            do {
                _ = try engine.build(options, context: body, cancelled: { writer.isClientGone }) { message in
                    guard !writer.isClientGone else {
                        throw EngineError(.unavailable, "build cancelled: the client went away")
                    }
                    try writer.write(message.bytes + [0x0A])
                }
            } catch let error as Builder.RunFailure {
                // In the stream even when nothing was written yet (`q`): the build ran, a step failed.
                try writer.write(JSON.object([
                    JSON.Member("errorDetail", .object([JSON.Member("code", .int(Int64(error.exitCode))),
                                                        JSON.Member("message", .string(error.message))])),
                    JSON.Member("error", .string(error.message))]).bytes + [0x0A])
            } catch let error as EngineError {
                try ImageHandlers.report(error, writer)
            }
        }
    }

    /// The registry host a key of X-Registry-Config names (`https://index.docker.io/v1/` is
    /// docker.io).
    static func registryHost(_ key: String) -> String {
        var host = Substring(key)
        for scheme in ["https://", "http://"] where host.hasPrefix(scheme) { host = host.dropFirst(scheme.count) }
        host = host.prefix { $0 != "/" }
        return host == "index.docker.io" || host == "registry-1.docker.io" ? "docker.io" : String(host)
    }

    static func base64(_ bytes: [UInt8]) -> String {
        Base64.encode(bytes)
    }

    /// Standard or URL-safe base64, padding optional; nil when it is not base64.
    static func base64Decode(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"), UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "/"), UInt8(ascii: "_"): values.append(63)
            case UInt8(ascii: "="), UInt8(ascii: "\n"), UInt8(ascii: "\r"): continue
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i + 1 < values.count {
            let chunk = values[i..<min(i + 4, values.count)]
            let a = chunk[chunk.startIndex], b = chunk[chunk.startIndex + 1]
            out.append(a << 2 | b >> 4)
            if chunk.count > 2 { out.append((b & 0x0F) << 4 | chunk[chunk.startIndex + 2] >> 2) }
            if chunk.count > 3 { out.append((chunk[chunk.startIndex + 2] & 0x03) << 6 | chunk[chunk.startIndex + 3]) }
            i += 4
        }
        return out
    }

    /// A query value holding a JSON object of strings (`buildargs`, `labels`); a null value is
    /// kept as nil (a build arg then takes the environment's).
    static func stringMap(_ text: String?, _ name: String) throws -> [String: String?] {
        guard let text, !text.isEmpty else { return [:] }
        let json: JSON
        do { json = try JSONParser.parse(Array(text.utf8)) } catch {
            throw EngineError(.invalidArgument, "\(name): invalid JSON: \(error.message)")
        }
        if json == .null { return [:] }
        guard case .object(let members) = json else { throw EngineError(.invalidArgument, "\(name): expected a JSON object") }
        var result: [String: String?] = [:]
        for member in members {
            switch member.value {
            case .string(let value): result[member.key] = .some(value)
            case .null: result[member.key] = .some(nil)
            default: throw EngineError(.invalidArgument, "\(name): the value of \(member.key) is not a string")
            }
        }
        return result
    }

    /// `POST /build/cancel`: BuildKit's; the classic builder stops when its client goes away.
    @Sendable static func buildCancel(_ request: Request, _ engine: Engine) throws -> Response {
        throw EngineError(.notFound, "build cancel is a BuildKit operation: a classic build stops when its client disconnects")
    }
}
