import Testing
@testable import Dockerfile

@Suite struct HeredocTests {
    @Test func runAndCopyTakeTheLinesUpToTheirTerminator() throws {
        let text = """
            FROM busybox
            RUN <<EOF
            echo one
              echo two
            EOF
            COPY <<-"CONF" /etc/app.conf
            \tkey=$A
            \tCONF
            RUN cat <<A <<'B' > /x
            a $HOME
            A
            b
            B
            ENV X=1
            """
        let file = try Dockerfile.parse(text)
        #expect(file.instructions.map(\.keyword) == ["FROM", "RUN", "COPY", "RUN", "ENV"])
        #expect(file.instructions[1].heredocs == [Heredoc(name: "EOF", content: "echo one\n  echo two\n", expand: true, chomp: false)])
        #expect(file.instructions[1].line == 2)
        let conf = try #require(file.instructions[2].heredocs.first)
        #expect(conf.name == "CONF" && conf.chomp && !conf.expand)
        #expect(conf.content == "\tkey=$A\n")
        #expect(conf.data == "key=$A\n")
        #expect(file.instructions[3].heredocs.map(\.name) == ["A", "B"])
        #expect(file.instructions[3].heredocs.map(\.content) == ["a $HOME\n", "b\n"])
        #expect(file.instructions[3].heredocs.map(\.expand) == [true, false])
        #expect(file.instructions[4].arguments == "X=1")
        #expect(file.instructions[4].line == 14)
    }

    @Test(arguments: [
        ("<<EOF", "EOF", true, false), ("<<-EOF", "EOF", true, true), ("<<'EOF'", "EOF", false, false),
        ("<<\"E\"OF", "EOF", false, false), ("0<<EOF", "EOF", true, false),
    ])
    func markers(_ word: String, _ name: String, _ expand: Bool, _ chomp: Bool) {
        #expect(Heredoc.marker(word) == Heredoc(name: name, expand: expand, chomp: chomp))
    }

    @Test(arguments: ["<<", "<<-", "a<<EOF", "<<EOF<x", "echo", "<<'EOF"])
    func notMarkers(_ word: String) {
        #expect(Heredoc.marker(word) == nil)
    }

    @Test func otherInstructionsAndExecFormsOpenNone() throws {
        let file = try Dockerfile.parse("FROM x\nENV A=<<EOF\nRUN [\"sh\", \"<<EOF\"]\nCMD x\n")
        #expect(file.instructions.map(\.keyword) == ["FROM", "ENV", "RUN", "CMD"])
        #expect(file.instructions.allSatisfy { $0.heredocs.isEmpty })
    }

    @Test func unterminatedIsRefusedNamingTheInstructionsLine() {
        #expect(throws: DockerfileError(line: 2, "unterminated heredoc")) {
            try Dockerfile.parse("FROM x\nRUN <<EOF\necho hi\nEOFX\n")
        }
    }

    @Test func contentVariablesExpandWithQuotesAndEscapesKept() throws {
        let lexer = ShellLexer()
        #expect(try lexer.expandVariables("a=$A '$A' \"${A}'\" \\$A ${B:-b}\n", ["A": "1"]) == "a=1 '$A' \"1'\" \\$A b\n")
    }
}
