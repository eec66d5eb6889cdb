/// A small command-line reader: `--name value`, `--name=value`, boolean `--flag`, positionals.
/// Written instead of swift-argument-parser, whose reflection-driven parsing faults in megabytes
/// of the binary at start-up (the service's idle memory is a measured feature).
struct Arguments {
    struct UsageError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    private(set) var options: [String: String] = [:]
    /// Every value of each valued option, in order (for repeatable ones such as `-H`).
    private(set) var lists: [String: [String]] = [:]
    private(set) var flags: Set<String> = []
    private(set) var positionals: [String] = []

    /// `valued`: options that take a value; `booleans`: flags. Anything else starting with `-` is
    /// an error, as is a missing value.
    init(_ arguments: ArraySlice<String>, valued: Set<String>, booleans: Set<String>) throws {
        var rest = arguments
        while let argument = rest.popFirst() {
            if argument == "--" {
                positionals += rest
                break
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                positionals.append(argument)
                continue
            }
            var name = argument
            var inlineValue: String?
            if let eq = argument.firstIndex(of: "=") {
                name = String(argument[..<eq])
                inlineValue = String(argument[argument.index(after: eq)...])
            }
            if valued.contains(name) {
                guard let value = inlineValue ?? rest.popFirst() else {
                    throw UsageError(message: "option \(name) needs a value")
                }
                options[name] = value
                lists[name, default: []].append(value)
            } else if booleans.contains(name) {
                guard inlineValue == nil else { throw UsageError(message: "option \(name) takes no value") }
                flags.insert(name)
            } else {
                throw UsageError(message: "unknown option \(name)")
            }
        }
    }

    func integer(_ name: String) throws -> Int? {
        guard let text = options[name] else { return nil }
        guard let value = Int(text) else { throw UsageError(message: "option \(name): '\(text)' is not a number") }
        return value
    }
}
