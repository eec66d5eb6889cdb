import CLinux
import ContainerLogs
import Dockerfile
import Images
import Platform
import Store

#if canImport(Glibc)
import Glibc
#endif

/// The classic builder's steps (moby's `builder/dockerfile`): each instruction makes an image
/// from the one before. Metadata instructions (ENV, CMD, LABEL...) change the config only (an
/// `empty_layer` history entry); RUN runs in a container created from the current image with
/// `docker run`'s default security, its output streamed, then committed; COPY and ADD extract
/// a tar of the context's files into a created (never started) container with the worker's
/// safe extraction (`archive-put`), then commit; onto `scratch` the tar is the layer itself.
/// Every step's image is found again through the cache (`BuildCache`) when its parent, its
/// instruction, its config and (COPY, ADD) its files' checksum are the same.
final class Builder {
    let engine: Engine
    let request: Engine.BuildRequest
    let context: BuildContext
    let dockerfile: Dockerfile
    let scratch: String
    let emit: (JSON) throws -> Void
    let cancelled: () -> Bool
    let lexer: ShellLexer
    let cache: BuildCache

    /// The current stage.
    var imageID: String?
    var config = ImageConfig.Container()
    var shell = ["/bin/sh", "-c"]
    var args: [String: String] = [:]
    var metaArgs: [String: String] = [:]
    var usedArgs: Set<String> = []
    var stages: [(name: String, imageID: String?)] = []
    var step = 0
    var total = 0
    /// Containers to remove at the end (`rm`), and on a failure (`forcerm`, or `rm`: no build
    /// container outlives its build).
    var containers: [String] = []

    /// A RUN that exited with a status other than 0: moby's message, and the status as the
    /// `errorDetail`'s code.
    struct RunFailure: Error {
        var exitCode: Int32
        var message: String
    }

    static let proxyArgs: Set<String> = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                                         "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]

    init(engine: Engine, request: Engine.BuildRequest, context: BuildContext, dockerfile: Dockerfile,
         scratch: String, cancelled: @escaping () -> Bool, emit: @escaping (JSON) throws -> Void) {
        self.engine = engine
        self.request = request
        self.context = context
        self.dockerfile = dockerfile
        self.scratch = scratch
        self.emit = emit
        self.cancelled = cancelled
        self.lexer = ShellLexer(escape: dockerfile.escape)
        self.cache = BuildCache(directory: engine.config.skiffRoot + "/build-cache")
    }

    func say(_ text: String) throws {
        if !request.quiet { try emit(["stream": .string(text)]) }
    }

    static func short(_ id: String) -> String {
        String((id.hasPrefix("sha256:") ? id.dropFirst(7) : Substring(id)).prefix(12))
    }

    /// Runs every instruction up to the end of the target stage; the final image's id.
    func run() throws -> String {
        var instructions = dockerfile.instructions
        guard !instructions.isEmpty else {
            throw EngineError(.invalidArgument, "the Dockerfile (\(request.dockerfile)) cannot be empty")
        }
        if let bad = instructions.first(where: { $0.keyword != "ARG" }), bad.keyword != "FROM" {
            throw EngineError(.invalidArgument, "Dockerfile line \(bad.line): no build stage in current context")
        }
        // The target: the instructions end with its stage.
        if !request.target.isEmpty {
            var end: Int?
            var found = false
            for (index, instruction) in instructions.enumerated() where instruction.keyword == "FROM" {
                if found { end = index; break }
                let words = instruction.arguments.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count == 3 && words[1].lowercased() == "as" && words[2].lowercased() == request.target.lowercased() {
                    found = true
                }
            }
            guard found else { throw EngineError(.invalidArgument, "failed to reach build target \(request.target) in Dockerfile") }
            if let end { instructions = Array(instructions[..<end]) }
        }
        if !request.labels.isEmpty {
            let text = request.labels.keys.sorted().map { "\"\($0)\"=\"\(Builder.quote(request.labels[$0] ?? ""))\"" }
                .joined(separator: " ")
            instructions.append(Dockerfile.Instruction(keyword: "LABEL", arguments: text, line: 0, original: "LABEL " + text))
        }
        total = instructions.count
        do {
            for instruction in instructions {
                if cancelled() { throw EngineError(.unavailable, "build cancelled: the client went away") }
                step += 1
                try say("Step \(step)/\(total) : \(instruction.original)\n")
                try execute(instruction)
                if let imageID { try say(" ---> \(Builder.short(imageID))\n") }
            }
        } catch {
            if request.remove || request.forceRemove { removeContainers() }
            throw error
        }
        if request.remove { removeContainers() }
        guard let imageID else { throw EngineError(.invalidArgument, "No image was generated. Is your Dockerfile empty?") }
        let unused = Set(request.buildArgs.keys).subtracting(usedArgs).subtracting(Builder.proxyArgs).sorted()
        if !unused.isEmpty {
            try say("[Warning] One or more build-args [\(unused.joined(separator: " "))] were not consumed\n")
        }
        try emit(["aux": ["ID": .string(imageID)]])
        // Quiet: the image id alone, as moby's router writes it (the CLI prints it).
        if request.quiet { try emit(["stream": .string(imageID + "\n")]) }
        try say("Successfully built \(Builder.short(imageID))\n")
        for tag in request.tags {
            try say("Successfully tagged \((try? Reference(parsing: tag))?.familiarString ?? tag)\n")
        }
        return imageID
    }

    static func quote(_ text: String) -> String {
        var out = ""
        for c in text {
            if c == "\\" || c == "\"" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    func removeContainers() {
        for id in containers.reversed() {
            try? engine.removeContainer(id: id, force: true, volumes: true)
        }
        containers = []
    }

    /// The variables instructions expand: the stage's ARGs, then its ENV over them.
    var environment: [String: String] {
        var result = args
        for entry in config.env ?? [] {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return result
    }

    func fail(_ instruction: Dockerfile.Instruction, _ message: String) -> EngineError {
        EngineError(.invalidArgument, instruction.line > 0 ? "Dockerfile line \(instruction.line): \(message)" : message)
    }

    func expand(_ instruction: Dockerfile.Instruction, _ text: String, words: Bool) throws -> [String] {
        do {
            return words ? try lexer.words(text, environment) : [try lexer.word(text, environment)]
        } catch {
            throw fail(instruction, "failed to process \"\(text)\": \(error.message)")
        }
    }

    func execute(_ instruction: Dockerfile.Instruction) throws {
        switch instruction.keyword {
        case "FROM": try from(instruction)
        case "ARG": try arg(instruction)
        case "RUN": try runStep(instruction)
        case "COPY", "ADD": try copy(instruction)
        default:
            guard stages.count > 0 else { throw fail(instruction, "no build stage in current context") }
            try metadata(instruction)
        }
    }

    // MARK: - FROM, ARG

    func from(_ instruction: Dockerfile.Instruction) throws {
        if let current = stages.indices.last { stages[current].imageID = imageID }
        // A stage's FROM sees the ARGs declared before the first FROM only.
        let words: [String]
        do { words = try lexer.words(instruction.arguments, metaArgs) } catch {
            throw fail(instruction, "failed to process \"\(instruction.arguments)\": \(error.message)")
        }
        var name = ""
        if words.count == 3 && words[1].lowercased() == "as" {
            name = words[2].lowercased()
        } else if words.count != 1 {
            throw fail(instruction, "FROM requires either one or three arguments")
        }
        if let platform = instruction.flag("platform"), !platform.isEmpty,
           platform != "linux/\(Descriptor.Platform.hostArchitecture)" {
            throw fail(instruction, "FROM --platform=\(platform): only this machine's platform (linux/\(Descriptor.Platform.hostArchitecture)) is built")
        }
        let base = words[0]
        args = [:]
        shell = ["/bin/sh", "-c"]
        if base.lowercased() == "scratch" {
            imageID = nil
            config = ImageConfig.Container()
        } else if let stage = stages.last(where: { $0.name == base.lowercased() && !$0.name.isEmpty }) {
            imageID = stage.imageID
            config = try imageConfig(stage.imageID)
        } else {
            let id = try resolveImage(base)
            imageID = id
            config = try imageConfig(id)
        }
        stages.append((name, imageID))
        // ONBUILD triggers of the base run now, and are not inherited.
        let triggers = config.onBuild ?? []
        config.onBuild = nil
        for trigger in triggers {
            let parsed: Dockerfile
            do { parsed = try Dockerfile.parse(trigger) } catch { throw fail(instruction, "ONBUILD trigger: \(error.message)") }
            for inner in parsed.instructions {
                try say("Executing \(triggers.count) build trigger\(triggers.count == 1 ? "" : "s")\n")
                try execute(Dockerfile.Instruction(keyword: inner.keyword, flags: inner.flags, arguments: inner.arguments,
                                                   line: instruction.line, original: inner.original))
            }
        }
    }

    /// A local image's id, pulled when it is not here.
    func resolveImage(_ name: String) throws -> String {
        if let id = try? engine.withStore({ try LocalImages.find(name, $0).image.id }) { return id }
        guard let reference = try? Reference(parsing: name) else {
            throw EngineError(.invalidArgument, "invalid reference format: \(name)")
        }
        try say("Pulling from \(reference.withDefaultTag.familiarString)\n")
        let worker = try engine.startPull(reference.withDefaultTag, shortNames: (try? ShortNames.load()) ?? ShortNames(),
                                          platform: nil, auth: request.registryAuth[reference.domain] ?? "")
        _ = Builder.readAll(worker)
        if let error = worker.wait() { throw error }
        return try engine.withStore { try LocalImages.find(name, $0).image.id }
    }

    func imageConfig(_ id: String?) throws -> ImageConfig.Container {
        guard let id else { return ImageConfig.Container() }
        let record = try engine.withStore { try LocalImages.find(id, $0).image }
        do {
            return try ImageConfig.read(record.config).config ?? ImageConfig.Container()
        } catch {
            throw EngineError(.internal, "build: the config of image \(id): \(error.message)")
        }
    }

    func arg(_ instruction: Dockerfile.Instruction) throws {
        let pairs: [(name: String, value: String?)]
        do {
            pairs = try lexer.pairs(instruction.arguments, stages.isEmpty ? metaArgs : environment, keyword: "ARG",
                                    allowBare: true)
        } catch {
            throw fail(instruction, error.message)
        }
        for (name, value) in pairs {
            var resolved = value
            if let given = request.buildArgs[name] {
                resolved = given ?? getenv(name).map { String(cString: $0) } ?? value
                usedArgs.insert(name)
            } else if value == nil, !stages.isEmpty, let global = metaArgs[name] {
                resolved = global
            }
            if stages.isEmpty {
                metaArgs[name] = resolved ?? ""
                if request.buildArgs[name] != nil { usedArgs.insert(name) }
            } else {
                args[name] = resolved ?? ""
            }
        }
        if !stages.isEmpty {
            try commit(instruction, createdBy: "/bin/sh -c #(nop)  " + instruction.original, layer: .none, key: "")
        }
    }

    // MARK: - metadata

    func metadata(_ instruction: Dockerfile.Instruction) throws {
        let arguments = instruction.arguments
        do {
            switch instruction.keyword {
            case "CMD", "ENTRYPOINT":
                let command = arguments.isEmpty ? [] : (instruction.jsonForm ?? (shell + [arguments]))
                if instruction.keyword == "CMD" {
                    config.cmd = command
                } else {
                    config.entrypoint = command
                    config.cmd = nil
                }
            case "ENV", "LABEL":
                let pairs = try lexer.pairs(arguments, environment, keyword: instruction.keyword)
                for (name, value) in pairs {
                    if instruction.keyword == "ENV" {
                        var env = (config.env ?? []).filter { !$0.hasPrefix(name + "=") && $0 != name }
                        env.append(name + "=" + (value ?? ""))
                        config.env = env
                    } else {
                        var labels = config.labels ?? [:]
                        labels[name] = value ?? ""
                        config.labels = labels
                    }
                }
            case "SHELL":
                guard let form = instruction.jsonForm, !form.isEmpty else {
                    throw fail(instruction, "SHELL requires the arguments to be in JSON form")
                }
                shell = form
            case "MAINTAINER":
                break
            case "HEALTHCHECK", "ONBUILD":
                try ImageChanges.apply([instruction.original], to: &config)
            case "VOLUME" where instruction.jsonForm != nil:
                try ImageChanges.apply([instruction.original], to: &config)
            default:
                // EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL: their words expanded.
                let words = try lexer.words(arguments, environment)
                try ImageChanges.apply([instruction.keyword + " " + words.joined(separator: " ")], to: &config)
            }
        } catch let error as DockerfileError {
            throw fail(instruction, error.message)
        } catch let error as ImageError {
            throw fail(instruction, error.message)
        }
        try commit(instruction, createdBy: "/bin/sh -c #(nop)  " + instruction.original, layer: .none, key: "")
    }

    // MARK: - RUN

    /// The RUN environment: the config's, with the ARGs the ENV does not set (moby's
    /// `|N a=b` build args).
    var runEnvironment: [String] {
        var env = config.env ?? []
        let names = Set(env.map { $0.prefix { $0 != "=" } })
        for name in args.keys.sorted() where !names.contains(Substring(name)) { env.append(name + "=" + (args[name] ?? "")) }
        return env
    }

    func runStep(_ instruction: Dockerfile.Instruction) throws {
        guard stages.count > 0 else { throw fail(instruction, "no build stage in current context") }
        let command = instruction.heredocs.isEmpty ? instruction.jsonForm ?? (shell + [instruction.arguments])
            : try heredocCommand(instruction)
        let argNames = args.keys.sorted()
        let argPrefix = argNames.isEmpty ? "" : "|\(argNames.count) " + argNames.map { $0 + "=" + (args[$0] ?? "") }.joined(separator: " ") + " "
        let createdBy = argPrefix + command.joined(separator: " ")
        let key = "RUN\n" + JSON.array(command.map(JSON.string)).text + "\n" + runEnvironment.joined(separator: "\n")
        if try cached(instruction, createdBy: createdBy, key: key) { return }
        guard let parent = imageID else {
            throw fail(instruction, "RUN needs an image with a shell: the stage is FROM scratch")
        }
        let id = try createContainer(parent, command: command)
        try say(" ---> Running in \(Builder.short(id))\n")
        try engine.startContainer(id: id)
        let record = try engine.currentContainer(id)
        let path = MonitorConnection.logPath(engine, containerID: id)
        var reader: LogReader?
        func pump() throws {
            if reader == nil { reader = try? LogReader(path: path) }
            guard let reader else { return }
            for record in (try? reader.more(LogReader.Options())) ?? [] where !request.quiet {
                try emit(["stream": .string(String(decoding: record.bytes, as: UTF8.self) + (record.isPartial ? "" : "\n"))])
            }
        }
        var pumpError: (any Error)?
        let (code, _) = try engine.waitContainer(record, condition: .notRunning) {
            do { try pump() } catch { pumpError = error; return true }
            return engine.isStopping || cancelled()
        }
        if let pumpError { throw pumpError }
        try pump()
        guard code == 0 else {
            throw RunFailure(exitCode: code, message: "The command '\(command.joined(separator: " "))' returned a non-zero code: \(code)")
        }
        try commit(instruction, createdBy: createdBy, layer: .container(id), key: key)
    }

    /// A container of `image` for one step, never named by the user; removed at the end.
    func createContainer(_ image: String, command: [String]) throws -> String {
        var create = CreateRequest()
        create.config.image = image
        create.config.cmd = command
        create.config.entrypoint = []
        create.config.env = runEnvironment
        create.config.user = config.user ?? ""
        create.config.workingDir = config.workingDir ?? ""
        let (id, _) = try engine.createContainer(create, name: nil)
        containers.append(id)
        return id
    }

    // MARK: - COPY, ADD

    func copy(_ instruction: Dockerfile.Instruction) throws {
        guard stages.count > 0 else { throw fail(instruction, "no build stage in current context") }
        let keyword = instruction.keyword
        var words: [String]
        if let json = instruction.jsonForm {
            words = try json.map { try expand(instruction, $0, words: false)[0] }
        } else {
            words = try expand(instruction, instruction.arguments, words: true)
        }
        guard words.count >= 2 else { throw fail(instruction, "\(keyword) requires at least two arguments") }
        var destination = words.removeLast()
        if keyword == "ADD", let url = words.first(where: { $0.hasPrefix("http://") || $0.hasPrefix("https://") }) {
            throw fail(instruction, "ADD \(url): sources from URLs are not supported: download it in a RUN step or COPY a local file")
        }
        var mode: UInt32?
        if let text = instruction.flag("chmod") {
            guard let value = UInt32(text, radix: 8), value <= 0o7777 else {
                throw fail(instruction, "invalid chmod parameter: \(text)")
            }
            mode = value
        }
        let owner = try instruction.flag("chown").map { try expand(instruction, $0, words: false)[0] } ?? "0:0"
        if let from = instruction.flag("from") {
            if !destination.hasPrefix("/") {
                let base = config.workingDir ?? "/"
                destination = (base.hasSuffix("/") ? base : base + "/") + destination
            }
            try copyFrom(instruction, from: try expand(instruction, from, words: false)[0], sources: words,
                         destination: destination, mode: mode, owner: owner)
            return
        }
        var sources: [BuildContext.Source] = []
        var heredocs = instruction.heredocs[...]
        for word in words {
            // A here-document (`COPY <<EOF /dst`): a file of its content, named as its terminator.
            if !heredocs.isEmpty, Heredoc.marker(word) != nil, let heredoc = heredocs.popFirst() {
                sources.append(try inlineSource(instruction, heredoc))
                continue
            }
            sources += try context.sources(word, keyword: keyword)
        }
        if !destination.hasPrefix("/") {
            let base = config.workingDir ?? "/"
            destination = (base.hasSuffix("/") ? base : base + "/") + destination
        }
        let wantsDirectory = destination.hasSuffix("/") || sources.count > 1 || sources.contains { $0.isDirectory }
        if sources.count > 1 && !destination.hasSuffix("/") {
            throw fail(instruction, "When using \(keyword) with more than one source file, the destination must be a directory and end with a /")
        }
        // ADD of a local tar archive: unpacked at the destination (the worker's safe extraction).
        var archives: [BuildContext.Source] = []
        if keyword == "ADD" { archives = try sources.filter { try !$0.isDirectory && $0.inline == nil && context.isArchive($0.path) } }
        let plain = sources.filter { s in !archives.contains { $0.path == s.path } }
        // Where the tar is extracted, and each source's name in it.
        var directory = destination
        var items: [(source: BuildContext.Source, name: String)] = []
        if plain.count == 1 && !plain[0].isDirectory && !wantsDirectory {
            if try !destinationIsDirectory(destination) {
                let cleaned = DockerIgnore.clean(destination)
                directory = String(cleaned[..<(cleaned.lastIndex(of: "/") ?? cleaned.startIndex)])
                if directory.isEmpty { directory = "/" }
                items = [(plain[0], String(cleaned.split(separator: "/").last ?? ""))]
            } else {
                items = [(plain[0], String(plain[0].path.split(separator: "/").last ?? ""))]
            }
        } else {
            for source in plain {
                items.append((source, source.isDirectory ? "" : String(source.path.split(separator: "/").last ?? "")))
            }
        }
        let tarPath = scratch + "/step.tar"
        let fd = open(tarPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw EngineError(.internal, "build: open \(tarPath): \(String(cString: strerror(errno)))") }
        defer { close(fd); unlink(tarPath) }
        // With the cache: the checksum first, the tar only when the step is not found.
        let checksum = try context.write(items, mode: mode, to: request.noCache ? fd : nil)
        var archiveSums: [String] = []
        for archive in archives { archiveSums.append(try context.checksum(archive.path)) }
        let createdBy = "/bin/sh -c #(nop) \(keyword) \(instruction.flags.isEmpty ? "" : instruction.flags.map { "--" + $0.name + "=" + ($0.value ?? "") }.joined(separator: " ") + " ")dir:\(checksum.dropFirst(7)) in \(destination) "
        let key = "\(keyword)\n\(owner)\n\(mode.map { String($0, radix: 8) } ?? "")\n\(directory)\n\(checksum)\n\(archiveSums.joined(separator: ","))"
        if try cached(instruction, createdBy: createdBy, key: key) { return }
        if !request.noCache {
            let written = try context.write(items, mode: mode, to: fd)
            guard written == checksum else {
                throw fail(instruction, "\(keyword) failed: the build context changed while it was read")
            }
        }
        guard let parent = imageID else {
            guard archives.isEmpty, owner == "0:0" else {
                throw fail(instruction, "\(keyword) onto scratch: --chown and archives need a base image")
            }
            try commit(instruction, createdBy: createdBy, layer: .tar(fd, under: directory, modes: []), key: key)
            return
        }
        if archives.isEmpty, instruction.flag("chown") == nil, let modes = try directLayerModes(directory) {
            try commit(instruction, createdBy: createdBy, layer: .tar(fd, under: directory, modes: modes), key: key)
            return
        }
        let id = try createContainer(parent, command: ["/bin/sh"])
        let record = try engine.currentContainer(id)
        if !items.isEmpty || archives.isEmpty {
            try put(record, fd: fd, at: directory, owner: owner)
        }
        for archive in archives {
            let file = try context.open(archive.path, spool: engine.spoolFile)
            try put(record, fd: file.fd, at: destination, owner: instruction.flag("chown") == nil ? nil : owner)
        }
        try commit(instruction, createdBy: createdBy, layer: .container(id), key: key)
    }

    /// Whether `path` is a directory in the current image (a single file is then copied into it).
    func destinationIsDirectory(_ path: String) throws -> Bool {
        guard let parent = imageID else { return false }
        let id = try createContainer(parent, command: ["/bin/sh"])
        guard let bytes = try? engine.statContainerPath(id, path: path), let json = try? JSONParser.parse(bytes),
              case .int(let mode)? = json["mode"] else { return false }
        return mode & (1 << 31) != 0
    }

    func put(_ record: ContainerRecord, fd: Int32, at directory: String, owner: String?) throws {
        lseek(fd, 0, SEEK_SET)
        var arguments = ["--path", directory, "--make-path"]
        if let owner { arguments += ["--chown-user", owner] }
        let worker = try engine.startContainerFiles(record, command: "archive-put", arguments: arguments, stdin: fd)
        _ = Builder.readAll(worker)
        if let error = worker.wait() { throw EngineError(error.code, "COPY failed: \(error.message)") }
    }

    // MARK: - images

    enum Layer {
        case none
        case container(String)
        /// An uncompressed tar (its descriptor) of paths relative to `under` (scratch stages, and
        /// `Builder+DirectLayer`), with the modes of the directories on the way (0755 without).
        case tar(Int32, under: String, modes: [UInt32])
    }

    /// Looks the step up in the cache: on a hit the current image becomes the cached one.
    func cached(_ instruction: Dockerfile.Instruction, createdBy: String, key: String) throws -> Bool {
        guard !request.noCache else { return false }
        let full = cacheKey(createdBy: createdBy, key: key)
        guard let id = cache.lookup(full), (try? engine.withStore({ try $0.image(byNameOrID: id) })) != nil else { return false }
        try say(" ---> Using cache\n")
        imageID = id
        return true
    }

    func cacheKey(createdBy: String, key: String) -> String {
        let text = "\(imageID ?? "scratch")\n\(createdBy)\n\(key)\n" + config.json.text
        return Digest.sha256(of: Array(text.utf8)).encoded
    }

    /// Makes the step's image from the current one and makes it current.
    func commit(_ instruction: Dockerfile.Instruction, createdBy: String, layer: Layer, key: String) throws {
        if case .none = layer, try cached(instruction, createdBy: createdBy, key: key) { return }
        let full = cacheKey(createdBy: createdBy, key: key)
        if case .none = layer {
            let id = try commitMetadata(createdBy: createdBy)
            cache.record(full, id)
            imageID = id
            return
        }
        var arguments = ["--config", config.json.text, "--created-by", createdBy]
        if let imageID { arguments += ["--image", imageID] }
        var stdin: Int32?
        var tarFD: Int32 = -1
        switch layer {
        case .none: break
        case .container(let id): arguments += ["--container", id]
        case .tar(let fd, let under, let modes):
            // The context's tar names paths under the destination: a tar with the directories on
            // the way as entries is written for the layer.
            tarFD = try prefixed(fd, under: under, modes: modes)
            stdin = tarFD
            arguments.append("--layer-stdin")
        }
        defer { if tarFD >= 0 { close(tarFD) } }
        let worker = try ImageWorker(engine: engine, command: "build-step", arguments: arguments, stdin: stdin)
        let output = Builder.readAll(worker)
        if let error = worker.wait() { throw error }
        guard let json = try? JSONParser.parse(Array(output.prefix { $0 != 0x0A })), case .string(let id)? = json["Id"] else {
            throw EngineError(.internal, "build step \(step): the image worker did not name the image")
        }
        if case .container(let container) = layer, request.remove {
            try say("Removing intermediate container \(Builder.short(container))\n")
            try? engine.removeContainer(id: container, force: true, volumes: true)
            containers.removeAll { $0 == container }
        }
        cache.record(full, id)
        imageID = id
    }

    /// The tar at `fd` rewritten with every name under `directory` and the directories on the
    /// way as entries (a layer onto nothing has no directories to extract into).
    func prefixed(_ fd: Int32, under directory: String, modes: [UInt32]) throws -> Int32 {
        lseek(fd, 0, SEEK_SET)
        let path = scratch + "/layer.tar"
        let out = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw EngineError(.internal, "build: open \(path): \(String(cString: strerror(errno)))") }
        unlink(path)
        do {
            let writer = TarWriter(sink: FileByteSink(fd: out, name: "the step's layer"))
            let components = DockerIgnore.clean(directory).split(separator: "/").map(String.init)
            for count in components.indices.map({ $0 + 1 }) {
                try writer.directory(components.prefix(count).joined(separator: "/"),
                                     mode: count <= modes.count ? modes[count - 1] : 0o755)
            }
            let prefix = components.isEmpty ? "" : components.joined(separator: "/") + "/"
            let reader = TarReader(source: FileByteSource(fd: fd, name: "the step's archive"))
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
            defer { buffer.deallocate() }
            while var entry = try reader.next() {
                entry.path = prefix + entry.path
                try writer.entry(entry)
                while true {
                    let n = try reader.read(into: buffer)
                    if n == 0 { break }
                    try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                }
            }
            try writer.finish()
        } catch {
            close(out)
            throw error
        }
        lseek(out, 0, SEEK_SET)
        return out
    }

    static func readAll(_ worker: ImageWorker) -> [UInt8] {
        var output: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = worker.read(into: buffer)
            if n == 0 { break }
            if output.count < 1 << 20 { output += buffer[0..<n] }
        }
        return output
    }
}
