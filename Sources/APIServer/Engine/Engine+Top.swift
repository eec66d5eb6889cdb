import Platform
import Store

/// `GET /containers/{id}/top` as moby runs it: the host's `ps` with the client's `ps_args`
/// (split on ASCII white space; `-ef` when empty) and `-q PID,...` naming the container's
/// processes (every process of its pid namespace, exec'd ones too), again without `-q` when ps
/// refuses the two together (BSD options such as `f`); the rows are then kept to the
/// container's processes, fields past the last title joined into it, and a `-` PID row (a
/// thread of `-L`/`-T` output) kept with the process above it.
extension Engine {
    func topContainer(id: String, psArguments: String) throws -> (titles: [String], processes: [[String]]) {
        let record = try currentContainer(id)
        guard record.isActive, record.pid > 0 else {
            throw EngineError(.conflict, "container \(record.id) is not running")
        }
        try ContainerTop.validate(psArguments)
        let pids = ResourceReader(hostMemory: 0).members(pid: record.pid, cgroup: nil)
        let arguments = ContainerTop.fields(psArguments.isEmpty ? "-ef" : psArguments)
        let output: String
        do {
            output = try ProcessOutput.run(["ps"] + arguments + ["-q", pids.map(String.init).joined(separator: ",")])
        } catch {
            do {
                output = try ProcessOutput.run(["ps"] + arguments)
            } catch let error as EngineError {
                // ps's own complaint (its first line) about the client's arguments.
                let line = error.message.split(separator: "\n").first.map(String.init) ?? error.message
                throw EngineError(.invalidArgument, "ps: \(line.hasPrefix("ps ") ? ContainerTop.afterCommand(line) : line)")
            }
        }
        return try ContainerTop.parse(output, pids: Set(pids))
    }
}

/// The text work of top, without I/O.
enum ContainerTop {
    /// moby's check: `-o key=PID...` may only rename the pid column.
    static func validate(_ arguments: String) throws {
        let words = fields(arguments)
        for (index, word) in words.enumerated() {
            // `KEY=PID...` after white space (`-o pid=PID` is allowed; `-o user=PID` is not).
            guard index > 0, let eq = word.firstIndex(of: "=") else { continue }
            let key = word[..<eq]
            var value = String(word[word.index(after: eq)...])
            if value.isEmpty, index + 1 < words.count { value = words[index + 1] }
            if value.hasPrefix("PID") && key != "pid" {
                throw EngineError(.invalidArgument, "specifying \"\(key)=\(value)\" is not allowed")
            }
        }
    }

    /// Go's fields on ASCII white space.
    static func fields(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
            .map(String.init)
    }

    /// `ps ... failed: TEXT` -> TEXT (ProcessOutput's message names the command first).
    static func afterCommand(_ line: String) -> String {
        let bytes = Array(line.utf8)
        let marker = Array(" failed: ".utf8)
        guard bytes.count >= marker.count else { return line }
        for start in 0...(bytes.count - marker.count) where Array(bytes[start..<start + marker.count]) == marker {
            return String(decoding: bytes[(start + marker.count)...], as: UTF8.self)
        }
        return line
    }

    static func parse(_ output: String, pids: Set<Int32>) throws -> (titles: [String], processes: [[String]]) {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let titles = fields(lines.first ?? "")
        guard let pidColumn = titles.firstIndex(of: "PID") else {
            throw EngineError(.invalidArgument, "Couldn't find PID field in ps output")
        }
        var processes: [[String]] = []
        var keepThreads = false
        for line in lines.dropFirst() where !line.isEmpty {
            let row = fields(line)
            guard row.count > pidColumn else { continue }
            if row[pidColumn] == "-" {
                if keepThreads { processes.append(row) }
                continue
            }
            guard let pid = Int32(row[pidColumn]) else {
                throw EngineError(.invalidArgument, "Unexpected pid '\(row[pidColumn])': not a number")
            }
            keepThreads = pids.contains(pid)
            guard keepThreads else { continue }
            var process = Array(row.prefix(titles.count - 1))
            process.append(row.dropFirst(titles.count - 1).joined(separator: " "))
            processes.append(process)
        }
        return (titles, processes)
    }
}
