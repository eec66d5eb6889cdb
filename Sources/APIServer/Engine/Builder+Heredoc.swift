import Dockerfile

/// Here-documents of RUN and COPY/ADD (the Dockerfile frontend 1.4's): what RUN runs and what
/// COPY adds for them.
extension Builder {
    /// RUN's command for an instruction with here-documents, as the frontend makes it:
    /// `RUN <<EOF` alone runs the content with the shell (a content starting with `#!` is
    /// written to `/dev/pipes/<name>` in the step's container and executed); any other line
    /// gets the shell with the line and each document after it, terminator included, so the
    /// shell reads them as its own here-documents (`RUN cat <<EOF > /file`).
    func heredocCommand(_ instruction: Dockerfile.Instruction) throws -> [String] {
        guard instruction.jsonForm == nil else {
            throw fail(instruction, "parsing produced an invalid run command: here-documents need the shell form")
        }
        let trimmed = instruction.arguments.trimmingBlanks
        if let first = instruction.heredocs.first, Heredoc.marker(trimmed) != nil {
            let data = first.data
            if data.hasPrefix("#!") {
                guard !first.name.contains("/") else {
                    throw fail(instruction, "heredoc name \(first.name): a script's name cannot contain /")
                }
                // The script's file lives in the container's /dev (a tmpfs): not in the layer.
                let script = "mkdir -p /dev/pipes && printf '%s' \"$1\" > \"/dev/pipes/$2\" && "
                    + "chmod 0755 \"/dev/pipes/$2\" && exec \"/dev/pipes/$2\""
                return shell + [script, "sh", data, first.name]
            }
            return shell + [data]
        }
        var full = instruction.arguments
        for heredoc in instruction.heredocs { full += "\n" + heredoc.content + heredoc.name }
        return shell + [full]
    }

    /// A COPY/ADD source for a here-document: a file named as its terminator, its content with
    /// the build's variables expanded unless the terminator was quoted.
    func inlineSource(_ instruction: Dockerfile.Instruction, _ heredoc: Heredoc) throws -> BuildContext.Source {
        var data = heredoc.data
        if heredoc.expand {
            do {
                data = try lexer.expandVariables(data, environment)
            } catch {
                throw fail(instruction, "failed to expand heredoc \(heredoc.name): \(error.message)")
            }
        }
        guard !heredoc.name.contains("/"), heredoc.name != ".", heredoc.name != ".." else {
            throw fail(instruction, "\(instruction.keyword) failed: heredoc name \(heredoc.name) is not a file name")
        }
        return BuildContext.Source(path: heredoc.name, isDirectory: false, inline: Array(data.utf8))
    }
}

extension String {
    /// Without leading and trailing blanks (spaces and tabs).
    fileprivate var trimmingBlanks: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
