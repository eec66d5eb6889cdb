import Platform

/// The body of `POST /containers/{id}/exec` (moby's `ExecConfig`), decoded with Go's rules and
/// kept in the Store as JSON (`ExecRecord.config`).
struct ExecConfig: Sendable, Equatable {
    var cmd: [String] = []
    var env: [String] = []
    var workingDir = ""
    var user = ""
    var tty = false
    var privileged = false
    var attachStdin = false
    var attachStdout = false
    var attachStderr = false
    var detachKeys = ""
    /// [height, width]; nil: not given.
    var consoleSize: [UInt32]?

    static func decode(_ body: [UInt8]) throws -> ExecConfig {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw EngineError(.invalidArgument, "invalid JSON: got EOF while reading request body")
        }
        let json: JSON
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        let d = GoDecoder(root: "ExecConfig")
        guard case .object = json else { throw d.fail(json, "", "types.ExecConfig") }
        let f = try d.object(json, "")
        var config = ExecConfig()
        config.cmd = try d.strSlice(f, "Cmd", "") ?? []
        config.env = try d.strings(f, "Env", "")
        config.workingDir = try d.string(f, "WorkingDir", "")
        config.user = try d.string(f, "User", "")
        config.tty = try d.bool(f, "Tty", "")
        config.privileged = try d.bool(f, "Privileged", "")
        config.attachStdin = try d.bool(f, "AttachStdin", "")
        config.attachStdout = try d.bool(f, "AttachStdout", "")
        config.attachStderr = try d.bool(f, "AttachStderr", "")
        config.detachKeys = try d.string(f, "DetachKeys", "")
        config.consoleSize = try consoleSize(f["consolesize"], d, "ConsoleSize")
        return config
    }

    /// `[height, width]` of uints, or null.
    static func consoleSize(_ value: JSON?, _ d: GoDecoder, _ path: String) throws -> [UInt32]? {
        guard let value else { return nil }
        guard case .array(let elements) = value else { throw d.fail(value, path, "[2]uint") }
        let sizes = try elements.map { element -> UInt32 in
            guard case .int(let n) = element, let size = UInt32(exactly: n) else { throw d.fail(element, path, "uint") }
            return size
        }
        guard sizes.count == 2 else { throw d.fail(value, path, "[2]uint") }
        return sizes
    }

    /// The Store's JSON of it.
    var json: JSON {
        var members: [JSON.Member] = [
            JSON.Member("Cmd", .array(cmd.map { .string($0) })),
            JSON.Member("Env", .array(env.map { .string($0) })),
            JSON.Member("WorkingDir", .string(workingDir)),
            JSON.Member("User", .string(user)),
            JSON.Member("Tty", .bool(tty)),
            JSON.Member("Privileged", .bool(privileged)),
            JSON.Member("AttachStdin", .bool(attachStdin)),
            JSON.Member("AttachStdout", .bool(attachStdout)),
            JSON.Member("AttachStderr", .bool(attachStderr)),
            JSON.Member("DetachKeys", .string(detachKeys)),
        ]
        if let consoleSize { members.append(JSON.Member("ConsoleSize", .array(consoleSize.map { .int(Int64($0)) }))) }
        return .object(members)
    }

    /// Reads the Store's JSON back (written by `json`).
    init(stored bytes: [UInt8]) throws {
        guard let json = try? JSONParser.parse(bytes), case .object = json else {
            throw EngineError(.internal, "exec: the stored exec config is not a JSON object")
        }
        func strings(_ key: String) -> [String] {
            guard case .array(let elements)? = json[key] else { return [] }
            return elements.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        }
        func string(_ key: String) -> String { if case .string(let s)? = json[key] { return s } else { return "" } }
        func bool(_ key: String) -> Bool { if case .bool(let b)? = json[key] { return b } else { return false } }
        cmd = strings("Cmd")
        env = strings("Env")
        workingDir = string("WorkingDir")
        user = string("User")
        tty = bool("Tty")
        privileged = bool("Privileged")
        attachStdin = bool("AttachStdin")
        attachStdout = bool("AttachStdout")
        attachStderr = bool("AttachStderr")
        detachKeys = string("DetachKeys")
        if case .array(let sizes)? = json["ConsoleSize"] {
            consoleSize = sizes.compactMap { if case .int(let n) = $0 { return UInt32(exactly: n) } else { return nil } }
        }
    }

    init() {}

    /// `cmd args...` as moby's exec events name it (`exec_create: sh -c exit 5`).
    var commandLine: String { cmd.joined(separator: " ") }
}

/// The body of `POST /exec/{id}/start` (moby's `ExecStartCheck`).
struct ExecStartCheck: Sendable, Equatable {
    var detach = false
    var tty = false
    var consoleSize: [UInt32]?

    static func decode(_ body: [UInt8]) throws -> ExecStartCheck {
        var check = ExecStartCheck()
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return check }
        let json: JSON
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        let d = GoDecoder(root: "ExecStartCheck")
        guard case .object = json else { throw d.fail(json, "", "types.ExecStartCheck") }
        let f = try d.object(json, "")
        check.detach = try d.bool(f, "Detach", "")
        check.tty = try d.bool(f, "Tty", "")
        check.consoleSize = try ExecConfig.consoleSize(f["consolesize"], d, "ConsoleSize")
        return check
    }
}
