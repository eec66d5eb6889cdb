import Platform

// Decoding in two steps: JSONParser reads the text into a plain JSON tree, then `Reader` walks
// it, so every complaint can name the field (`syscalls[3].args[0].op`) and say what it found.
// Unknown keys are ignored, as Docker and Podman ignore them (`comment`, `listenerPath`...).

extension SeccompProfile {
    enum JSONValue: Sendable {
        case object([String: JSONValue])
        case array([JSONValue])
        case string(String)
        case unsigned(UInt64)
        case signed(Int64)
        case fractional(Double)
        case bool(Bool)
        case null

        /// From the shared JSON value; in an object the last of repeated keys wins.
        init(_ json: JSON) {
            switch json {
            case .null: self = .null
            case .bool(let b): self = .bool(b)
            case .int(let n): self = n >= 0 ? .unsigned(UInt64(n)) : .signed(n)
            case .uint(let n): self = .unsigned(n)
            case .double(let d): self = .fractional(d)
            case .string(let s): self = .string(s)
            case .array(let elements): self = .array(elements.map(JSONValue.init))
            case .object(let members):
                var object: [String: JSONValue] = [:]
                for member in members { object[member.key] = JSONValue(member.value) }
                self = .object(object)
            }
        }

        var kind: String {
            switch self {
            case .object: "an object"
            case .array: "an array"
            case .string: "a string"
            case .unsigned, .signed, .fractional: "a number"
            case .bool: "a boolean"
            case .null: "null"
            }
        }
    }

    struct Reader {
        let source: String

        func fail(_ path: String, _ what: String) -> OCIError {
            OCIError(.invalidArgument, "seccomp profile \(source): \(path.isEmpty ? "" : path + ": ")\(what)")
        }

        func profile(from root: JSONValue) throws(OCIError) -> SeccompProfile {
            let top = try object(root, "")
            guard let actionValue = top["defaultAction"], actionValue != .null else {
                throw fail("", "defaultAction is missing")
            }
            let defaultAction = try action(actionValue, "defaultAction")
            let defaultErrno = try errno(number: top["defaultErrnoRet"], name: top["defaultErrno"],
                                         numberPath: "defaultErrnoRet", namePath: "defaultErrno")
            if defaultErrno != nil && !defaultAction.takesErrno {
                throw fail("", "defaultErrnoRet is set but defaultAction \(defaultAction.rawValue) takes no errno")
            }

            let architectures = try strings(top["architectures"], "architectures")
            var archMap: [ArchitectureMap] = []
            for (i, entry) in try array(top["archMap"], "archMap").enumerated() {
                let path = "archMap[\(i)]"
                let fields = try object(entry, path)
                guard let arch = fields["architecture"], arch != .null else {
                    throw fail(path, "architecture is missing")
                }
                archMap.append(ArchitectureMap(
                    architecture: try string(arch, path + ".architecture"),
                    subArchitectures: try strings(fields["subArchitectures"], path + ".subArchitectures")))
            }
            if !architectures.isEmpty && !archMap.isEmpty {
                throw fail("", "both architectures and archMap are set; use one")
            }

            let flags = try strings(top["flags"], "flags")
            for (i, flag) in flags.enumerated() where !SeccompProfile.knownFlags.contains(flag) {
                throw fail("flags[\(i)]", "unknown flag \"\(flag)\"")
            }

            var rules: [Rule] = []
            for (i, entry) in try array(top["syscalls"], "syscalls").enumerated() {
                rules.append(try rule(entry, "syscalls[\(i)]"))
            }
            return SeccompProfile(source: source, defaultAction: defaultAction, defaultErrnoRet: defaultErrno,
                                  architectures: architectures, archMap: archMap, syscalls: rules, flags: flags)
        }

        func rule(_ value: JSONValue, _ path: String) throws(OCIError) -> Rule {
            let fields = try object(value, path)
            let names = try strings(fields["names"], path + ".names")
            let name = try optionalString(fields["name"], path + ".name")
            if name != nil, !names.isEmpty {
                throw fail(path, "both name and names are set; use one")
            }
            let allNames = name.map { [$0] } ?? names
            if allNames.isEmpty {
                throw fail(path, "names is missing or empty")
            }
            for (j, n) in allNames.enumerated() where n.isEmpty {
                throw fail(name == nil ? "\(path).names[\(j)]" : "\(path).name", "empty syscall name")
            }
            guard let actionValue = fields["action"], actionValue != .null else {
                throw fail(path, "action is missing")
            }
            let action = try action(actionValue, path + ".action")
            let errnoRet = try errno(number: fields["errnoRet"], name: fields["errno"],
                                     numberPath: path + ".errnoRet", namePath: path + ".errno")
            if errnoRet != nil && !action.takesErrno {
                throw fail(path, "errnoRet is set but action \(action.rawValue) takes no errno")
            }
            var args: [Argument] = []
            for (j, arg) in try array(fields["args"], path + ".args").enumerated() {
                args.append(try argument(arg, "\(path).args[\(j)]"))
            }
            return Rule(names: allNames, action: action, errnoRet: errnoRet, args: args,
                        includes: try filter(fields["includes"], path + ".includes"),
                        excludes: try filter(fields["excludes"], path + ".excludes"),
                        comment: try optionalString(fields["comment"], path + ".comment") ?? "")
        }

        func argument(_ value: JSONValue, _ path: String) throws(OCIError) -> Argument {
            let fields = try object(value, path)
            guard let indexValue = fields["index"] else { throw fail(path, "index is missing") }
            let index = try unsigned(indexValue, path + ".index")
            guard index <= 5 else {
                throw fail(path + ".index", "\(index) is out of range (a syscall has arguments 0-5)")
            }
            guard let opValue = fields["op"] else { throw fail(path, "op is missing") }
            let opName = try string(opValue, path + ".op")
            guard let op = Operator(rawValue: opName) else {
                throw fail(path + ".op", "unknown operator \"\(opName)\"")
            }
            let v = try fields["value"].map { v throws(OCIError) in try unsigned(v, path + ".value") } ?? 0
            let v2 = try fields["valueTwo"].map { v throws(OCIError) in try unsigned(v, path + ".valueTwo") } ?? 0
            return Argument(index: UInt32(index), value: v, valueTwo: v2, op: op)
        }

        func filter(_ value: JSONValue?, _ path: String) throws(OCIError) -> Filter {
            guard let value, value != .null else { return Filter() }
            let fields = try object(value, path)
            var minKernel: KernelVersion?
            if let kv = fields["minKernel"], kv != .null {
                let text = try string(kv, path + ".minKernel")
                if !text.isEmpty {
                    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
                    guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]),
                          major > 0 || minor > 0 else {
                        throw fail(path + ".minKernel", "\"\(text)\" is not a kernel version like \"5.8\"")
                    }
                    minKernel = KernelVersion(major: major, minor: minor)
                }
            }
            return Filter(caps: try strings(fields["caps"], path + ".caps"),
                          arches: try strings(fields["arches"], path + ".arches"),
                          minKernel: minKernel)
        }

        func action(_ value: JSONValue, _ path: String) throws(OCIError) -> Action {
            let name = try string(value, path)
            guard let action = Action(rawValue: name) else {
                throw fail(path, "unknown action \"\(name)\"")
            }
            return action
        }

        /// `errno` (a name such as "EPERM", or digits) wins over `errnoRet`, as in Podman.
        func errno(number: JSONValue?, name: JSONValue?, numberPath: String, namePath: String) throws(OCIError) -> UInt16? {
            if let name, name != .null {
                let text = try string(name, namePath)
                if !text.isEmpty {
                    if let n = UInt16(text) { return n }
                    guard let n = SeccompProfile.errnoValue(named: text) else {
                        throw fail(namePath, "unknown errno \"\(text)\"")
                    }
                    return UInt16(n)
                }
            }
            guard let number, number != .null else { return nil }
            let n = try unsigned(number, numberPath)
            guard n <= UInt64(UInt16.max) else {
                throw fail(numberPath, "\(n) is out of range (0-65535)")
            }
            return UInt16(n)
        }

        // MARK: Shapes

        func object(_ value: JSONValue, _ path: String) throws(OCIError) -> [String: JSONValue] {
            guard case .object(let fields) = value else {
                throw fail(path, "expected an object, found \(value.kind)")
            }
            return fields
        }

        /// A missing key or null reads as an empty array.
        func array(_ value: JSONValue?, _ path: String) throws(OCIError) -> [JSONValue] {
            guard let value else { return [] }
            switch value {
            case .null: return []
            case .array(let items): return items
            default: throw fail(path, "expected an array, found \(value.kind)")
            }
        }

        func string(_ value: JSONValue, _ path: String) throws(OCIError) -> String {
            guard case .string(let text) = value else {
                throw fail(path, "expected a string, found \(value.kind)")
            }
            return text
        }

        func optionalString(_ value: JSONValue?, _ path: String) throws(OCIError) -> String? {
            guard let value, value != .null else { return nil }
            let text = try string(value, path)
            return text.isEmpty ? nil : text
        }

        func strings(_ value: JSONValue?, _ path: String) throws(OCIError) -> [String] {
            var result: [String] = []
            for (i, item) in try array(value, path).enumerated() {
                result.append(try string(item, "\(path)[\(i)]"))
            }
            return result
        }

        func unsigned(_ value: JSONValue, _ path: String) throws(OCIError) -> UInt64 {
            switch value {
            case .unsigned(let n): return n
            case .signed(let n): throw fail(path, "\(n) is negative")
            case .fractional(let d):
                if d >= 0 && d < 18446744073709551616.0 && d.rounded() == d { return UInt64(d) }
                throw fail(path, "\(d) is not a whole number from 0 to 18446744073709551615")
            default: throw fail(path, "expected a number, found \(value.kind)")
            }
        }
    }
}

extension SeccompProfile.JSONValue: Equatable {}
