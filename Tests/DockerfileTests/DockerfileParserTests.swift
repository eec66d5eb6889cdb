import Testing
@testable import Dockerfile

@Suite struct DockerfileParserTests {
    @Test func continuationsCommentsAndFlags() throws {
        let text = """
            # a comment
            FROM busybox AS base
            RUN echo a \\
            # dropped inside the continuation

                && echo b
            COPY --chown=1:2 --chmod=644 a b /dst/
            """
        let file = try Dockerfile.parse(text)
        #expect(file.instructions.map(\.keyword) == ["FROM", "RUN", "COPY"])
        #expect(file.instructions[1].arguments == "echo a && echo b")
        #expect(file.instructions[1].line == 3)
        #expect(file.instructions[2].flag("chown") == "1:2")
        #expect(file.instructions[2].flag("chmod") == "644")
        #expect(file.instructions[2].flag("from") == nil)
        #expect(file.instructions[2].arguments == "a b /dst/")
    }

    @Test func escapeDirective() throws {
        let file = try Dockerfile.parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo hi\n")
        #expect(file.escape == "`")
        #expect(file.instructions[1].arguments == "dir c:\\ && echo hi")
    }

    @Test func directiveAfterInstructionIsAComment() throws {
        let file = try Dockerfile.parse("FROM x\n# escape=`\nRUN a \\\n b\n")
        #expect(file.escape == "\\")
        #expect(file.instructions[1].arguments == "a b")
    }

    @Test(arguments: [
        ("FROM x\nFOO bar\n", 2, "unknown instruction: FOO"),
        ("FROM x\n\nrunn echo\n", 3, "unknown instruction: RUNN"),
        ("FROM x\nCOPY\n", 2, "COPY requires at least two arguments"),
        ("# escape=x\nFROM x\n", 1, "invalid escape token 'x' does not match ` or \\"),
        ("# escape=`\n# escape=\\\nFROM x\n", 2, "only one escape parser directive can be used"),
        ("FROM x\nRUN --mount=type=cache,target=/c true\n", 2, "Unknown flag: mount"),
        ("FROM x\nADD --from=a b c\n", 2, "Unknown flag: from"),
    ])
    func refused(_ text: String, _ line: Int, _ message: String) {
        #expect(throws: DockerfileError(line: line, message)) { try Dockerfile.parse(text) }
    }

    @Test func errorIsWordedAsDockers() {
        #expect(DockerfileError(line: 2, "unknown instruction: FOO").description
                == "dockerfile parse error line 2: unknown instruction: FOO")
    }

    @Test(arguments: [
        ("[\"sh\", \"-c\", \"echo hi\"]", ["sh", "-c", "echo hi"] as [String]?),
        ("[]", []),
        ("[\"a\\\"b\", \"\\u0041\"]", ["a\"b", "A"]),
        ("echo [x]", nil),
        ("[\"unterminated]", nil),
        ("[1, 2]", nil),
    ])
    func execForm(_ text: String, _ expected: [String]?) {
        #expect(Dockerfile.jsonArray(text) == expected)
    }

    @Test func keywordsAreCaseInsensitive() throws {
        let file = try Dockerfile.parse("from x\nrun echo\n")
        #expect(file.instructions.map(\.keyword) == ["FROM", "RUN"])
        #expect(file.instructions[1].original == "RUN echo")
    }
}

@Suite struct ShellLexerTests {
    let env = ["A": "one", "EMPTY": "", "SP": "a b"]

    @Test(arguments: [
        ("$A", "one"), ("${A}", "one"), ("x${A}y", "xoney"), ("$MISSING", ""),
        ("${MISSING:-dflt}", "dflt"), ("${EMPTY:-dflt}", "dflt"), ("${EMPTY-dflt}", ""),
        ("${A:+alt}", "alt"), ("${MISSING:+alt}", ""), ("'$A'", "$A"), ("\"$A\"", "one"),
        ("\\$A", "$A"), ("\"a\\\"b\"", "a\"b"), ("a\\ b", "a b"), ("${MISSING:-${A}}", "one"),
    ])
    func word(_ text: String, _ expected: String) throws {
        #expect(try ShellLexer().word(text, env) == expected)
    }

    @Test func wordsSplitOnUnquotedBlanks() throws {
        // An unquoted expansion is split as moby splits it; a quoted one is not; an empty one is no word.
        #expect(try ShellLexer().words("a \"b c\" 'd e' $SP \"$SP\" $EMPTY x", env) == ["a", "b c", "d e", "a", "b", "a b", "x"])
    }

    @Test func pairs() throws {
        let lexer = ShellLexer()
        let new = try lexer.pairs("A=1 B=\"two words\" C=$A", env, keyword: "ENV")
        #expect(new.map(\.name) == ["A", "B", "C"])
        #expect(new.map(\.value) == ["1", "two words", "one"])
        let old = try lexer.pairs("NAME some value", env, keyword: "ENV")
        #expect(old.count == 1 && old[0].name == "NAME" && old[0].value == "some value")
        let args = try lexer.pairs("X Y=2", env, keyword: "ARG", allowBare: true)
        #expect(args.map(\.name) == ["X", "Y"] && args[0].value == nil && args[1].value == "2")
    }

    @Test func unbalancedQuoteIsRefused() {
        #expect(throws: DockerfileError.self) { try ShellLexer().word("\"open", env) }
        #expect(throws: DockerfileError.self) { try ShellLexer().word("${A", env) }
    }

    @Test func backtickEscape() throws {
        #expect(try ShellLexer(escape: "`").word("a` b\\c", env) == "a b\\c")
    }
}

@Suite struct DockerIgnoreTests {
    @Test(arguments: [
        ("*.log", "a.log", true), ("*.log", "dir/a.log", false), ("**/*.log", "dir/sub/a.log", true),
        ("**/*.log", "a.log", true), ("dir", "dir/inner/file", true), ("/dir/", "dir/file", true),
        ("a?c", "abc", true), ("a?c", "a/c", false), ("[a-c]x", "bx", true), ("[^a-c]x", "bx", false),
        ("./tmp/../secret", "secret", true), ("sec\\*", "sec*", true), ("sec\\*", "secX", false),
        ("dir/**", "dir/x/y", true), ("node_modules", "src/node_modules", false),
    ])
    func single(_ pattern: String, _ path: String, _ excluded: Bool) throws {
        #expect(try DockerIgnore(pattern).excludes(path) == excluded)
    }

    @Test func lastMatchWinsWithExceptions() throws {
        let ignore = try DockerIgnore("# comment\n*.md\n!README.md\n\ndocs\n!docs/keep.txt\n")
        #expect(ignore.excludes("CHANGES.md"))
        #expect(!ignore.excludes("README.md"))
        #expect(ignore.excludes("docs/a.txt"))
        #expect(!ignore.excludes("docs/keep.txt"))
        #expect(!ignore.excludes("src/main.c"))
        #expect(ignore.hasExclusions)
    }

    @Test func badClassIsRefused() {
        #expect(throws: DockerfileError(line: 0, "syntax error in pattern")) { try DockerIgnore("[abc") }
    }

    @Test(arguments: [("a/./b/../c", "a/c"), ("/x//y/", "/x/y"), ("", "."), ("../a", "../a"), ("/..", "/")])
    func clean(_ input: String, _ expected: String) {
        #expect(DockerIgnore.clean(input) == expected)
    }
}
