import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Platform's `Spawn` as the service's helpers call it: every descriptor but the given ones
/// closed, and a failure to start as an EngineError.
extension Spawn {
    /// Starts `argv` (`argv[0]` a path, or a name looked up in PATH with `searchPath`) with
    /// `descriptors[i]` as its descriptor i and this process's environment plus `environment`.
    /// Returns the pid; the caller waits for it.
    static func start(_ argv: [String], descriptors: [Int32], environment: [String: String] = [:],
                      newSession: Bool = false, searchPath: Bool = false) throws -> pid_t {
        do {
            return try start(argv, Options(descriptors: descriptors, environment: environment, newSession: newSession,
                                           searchPath: searchPath))
        } catch {
            throw EngineError(.internal, "cannot run \(argv.first ?? ""): \(error.text)")
        }
    }
}
