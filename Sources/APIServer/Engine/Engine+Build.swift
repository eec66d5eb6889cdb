import Dockerfile
import Images
import NIOPosix
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// `POST /build`, the classic builder (`Builder.swift` runs the steps): the context unpacked
/// into `<root>/build/<random>`, the Dockerfile parsed, the steps run, the image tagged, the
/// directory removed whatever happened.
extension Engine {
    struct BuildRequest {
        var dockerfile = "Dockerfile"
        /// Normalized names (`repo:tag`).
        var tags: [String] = []
        /// `buildargs`: a nil value takes the daemon's environment's, as moby does.
        var buildArgs: [String: String?] = [:]
        var labels: [String: String] = [:]
        var target = ""
        var quiet = false
        var noCache = false
        var remove = true
        var forceRemove = false
        /// X-Registry-Auth values by registry host, from X-Registry-Config.
        var registryAuth: [String: String] = [:]
    }

    /// Builds; `emit` sends one message of the stream, `cancelled` says whether the client went
    /// away (a RUN step's container is then stopped and removed). Returns the image id.
    func build(_ request: BuildRequest, context body: SpooledBody, cancelled: @escaping () -> Bool = { false },
               emit: @escaping (JSON) throws -> Void) throws -> String {
        let base = config.skiffRoot + "/build"
        if mkdir(base, 0o700) != 0 && errno != EEXIST {
            throw EngineError(.internal, "build: make \(base): \(String(cString: strerror(errno)))")
        }
        let directory = base + "/" + RandomID.make()
        guard mkdir(directory, 0o700) == 0 else {
            throw EngineError(.internal, "build: make \(directory): \(String(cString: strerror(errno)))")
        }
        // The step's scratch files (the context is not unpacked: `BuildContext` indexes it).
        defer { FileSystem.removeTree(directory) }
        let limit = Int(getenv("SKIFF_MAX_LAYER_SIZE").flatMap { Int(String(cString: $0)) } ?? LayerStream.defaultLimit)
        let context = try BuildContext(body: body, limit: limit, spool: spoolFile)
        let dockerfileBytes: [UInt8]
        do {
            dockerfileBytes = try context.readFile(request.dockerfile)
        } catch {
            throw EngineError(.invalidArgument, "Cannot locate specified Dockerfile: \(request.dockerfile)")
        }
        let dockerfile: Dockerfile
        do {
            dockerfile = try Dockerfile.parse(String(decoding: dockerfileBytes, as: UTF8.self))
        } catch {
            throw EngineError(.invalidArgument, error.description)
        }
        let builder = Builder(engine: self, request: request, context: context, dockerfile: dockerfile,
                              scratch: directory, cancelled: cancelled, emit: emit)
        let id = try builder.run()
        for tag in request.tags {
            guard let reference = try? Reference(parsing: tag) else { continue }
            try tagImage(id, as: reference)
        }
        return id
    }
}

extension Engine {
    /// Removes what builds of an earlier service left in `<root>/build` (a service killed
    /// mid-build never removed its build's directory). Called at the service's start, before it
    /// serves: the names are read then, their removal runs in the background.
    public func removeLeftoverBuilds() {
        let base = config.skiffRoot + "/build"
        guard let names = FileSystem.directoryEntries(base), !names.isEmpty else { return }
        NIOThreadPool.singleton.submit { _ in
            for name in names { FileSystem.removeTree(base + "/" + name) }
        }
    }
}
