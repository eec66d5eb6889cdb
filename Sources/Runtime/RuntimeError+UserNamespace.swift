import UserNamespace

extension RuntimeError {
    /// A user namespace's mapping failure as the runtime reports it (same message and errno).
    init(_ error: UserNamespaceError) {
        let code: Code
        switch error.code {
        case .permissionDenied: code = .permissionDenied
        case .notFound: code = .notFound
        case .system: code = .system
        }
        self.init(code, error.message, errno: error.errno)
    }
}
