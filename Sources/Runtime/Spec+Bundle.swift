import OCI

// The runtime reads bundles through the OCI module; its failures reach the runtime's callers
// (the CLI, the monitor) as RuntimeErrors, with the same message.

extension RuntimeError {
    init(_ error: OCIError) {
        let code: Code = switch error.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .permissionDenied: .permissionDenied
        case .system: .system
        }
        self.init(code, error.message, errno: error.errno)
    }
}

extension Spec {
    /// `<bundle>/config.json`, for the runtime.
    static func read(bundle: String) throws(RuntimeError) -> Spec {
        do {
            return try load(bundle: bundle)
        } catch let error as OCIError {
            throw RuntimeError(error)
        } catch {
            throw RuntimeError(.invalidArgument, "bundle \(bundle): config.json: \(error)")
        }
    }

    /// An OCI process object on its own (`exec --process FILE`), for the runtime.
    public static func readProcess(_ bytes: [UInt8], source: String) throws(RuntimeError) -> Process {
        do {
            return try decodeProcess(bytes, source: source)
        } catch let error as OCIError {
            throw RuntimeError(error)
        } catch {
            throw RuntimeError(.invalidArgument, "\(source): \(error)")
        }
    }
}
