import Testing
@testable import Config

/// Valid documents and the values they must produce.
struct TOMLParserTests {
    struct Valid: Sendable, CustomStringConvertible {
        let name: String
        let text: String
        /// dotted path -> expected value rendered as TOML.
        let expected: [String: String]
        var description: String { name }
    }

    static let valid: [Valid] = [
        Valid(name: "strings", text: #"""
            a = "tab\there \u00e9 \"q\""
            b = 'C:\path'
            c = """
            line1
            line2"""
            d = '''
            raw \n'''
            e = """one \
                two"""
            """#, expected: ["a": #""tab\there é \"q\"""#, "b": #""C:\\path""#,
                             "c": #""line1\nline2""#, "d": #""raw \\n""#, "e": #""one two""#]),
        Valid(name: "numbers", text: """
            i = +1_000
            h = 0xdead_BEEF
            o = 0o755
            b = 0b101
            f = 6.02e+23
            g = -0.5
            z = 0
            """, expected: ["i": "1000", "h": "3735928559", "o": "493", "b": "5", "f": "6.02e+23",
                            "g": "-0.5", "z": "0"]),
        Valid(name: "podman-style arrays", text: """
            [containers]
            default_capabilities = [
              "CHOWN",
              "DAC_OVERRIDE",   # a comment
              "SYS_CHROOT",
            ]
            empty = []
            nested = [ [1, 2], ["a"] ]
            """, expected: ["containers.default_capabilities": #"["CHOWN", "DAC_OVERRIDE", "SYS_CHROOT"]"#,
                            "containers.empty": "[]", "containers.nested": #"[[1, 2], ["a"]]"#]),
        Valid(name: "tables, dotted keys, inline tables", text: """
            top = true
            [engine.runtimes]
            runc = ["/usr/bin/runc"]
            [engine]
            service_timeout = 5
            a.b.c = "deep"
            dest = { uri = "unix:///x", identity = "" }
            """, expected: ["top": "true", "engine.runtimes.runc": #"["/usr/bin/runc"]"#,
                            "engine.service_timeout": "5", "engine.a.b.c": #""deep""#,
                            "engine.dest": #"{uri = "unix:///x", identity = ""}"#]),
        Valid(name: "arrays of tables", text: """
            [[pool]]
            base = "10.89.0.0/16"
            [[pool]]
            base = "10.90.0.0/15"
            [pool.extra]
            size = 24
            """, expected: ["pool": #"[{base = "10.89.0.0/16"}, {base = "10.90.0.0/15", extra = {size = 24}}]"#]),
        Valid(name: "dates and CRLF", text: "d = 1979-05-27T07:32:00Z\r\nl = 1979-05-27 07:32:00\r\nt = 07:32:00\r\n",
              expected: ["d": "1979-05-27T07:32:00Z", "l": "1979-05-27 07:32:00", "t": "07:32:00"]),
        Valid(name: "quoted keys", text: #"""
            "a.b" = 1
            'c d' = 2
            [x."y.z"]
            k = 3
            """#, expected: ["a.b": "1", "c d": "2"]),
    ]

    @Test(arguments: valid)
    func parsesValidDocuments(_ case_: Valid) throws {
        let table = try TOMLParser.parse(case_.text)
        for (path, rendered) in case_.expected {
            let value = try #require(lookup(table, path), "no value at \(path)")
            #expect(value.rendered == rendered, "at \(path)")
        }
    }

    @Test func keepsLinesOfKeys() throws {
        let table = try TOMLParser.parse("""
            # comment

            [containers]
            pids_limit = 10
            env = [
              "A=1",
            ]
            """)
        guard case .table(let containers)? = table["containers"]?.value else {
            Issue.record("no [containers]")
            return
        }
        #expect(table["containers"]?.line == 3)
        #expect(containers["pids_limit"]?.line == 4)
        #expect(containers["env"]?.line == 5)
    }

    struct Invalid: Sendable, CustomStringConvertible {
        let text: String
        let line: Int
        let message: String
        var description: String { message }
    }

    static let invalid: [Invalid] = [
        Invalid(text: "a = 1\na = 2", line: 2, message: "duplicate key 'a' (first defined on line 1)"),
        Invalid(text: "[t]\n[t]", line: 2, message: "table [t] is defined twice (first on line 1)"),
        Invalid(text: "a = \"unterminated\nb = 1", line: 1, message: "unterminated string: a newline inside a one-line string"),
        Invalid(text: "x = [1, 2", line: 1, message: "unterminated array: expected ']'"),
        Invalid(text: "\n\nkey value", line: 3, message: "expected '=' after the key, found 'v'"),
        Invalid(text: "a = 01", line: 1, message: "invalid value '01'"),
        Invalid(text: "a = 1__0", line: 1, message: "invalid value '1__0'"),
        Invalid(text: "a = \"\\q\"", line: 1, message: "invalid escape sequence '\\q'"),
        Invalid(text: "a = 1 b = 2", line: 1, message: "expected the end of the line, found 'b'"),
        Invalid(text: "a = { b = 1 }\na.c = 2", line: 2, message: "cannot add to the inline table 'a' (line 1)"),
        Invalid(text: "a = 1\n[a]", line: 2, message: "cannot define [a]: 'a' is already an integer (line 1)"),
        Invalid(text: "a = [1]\n[[a]]", line: 2, message: "cannot define [[a]]: 'a' is already an array (line 1)"),
        Invalid(text: "[a]\nb.c = 1\n[a.b]", line: 3, message: "table [a.b] was already defined by dotted keys (line 2)"),
        Invalid(text: "a = {b = 1,}", line: 1, message: "expected a key, found '}'"),
        Invalid(text: "a = tru", line: 1, message: "expected a value, found 't'"),
        Invalid(text: "[containers\nx = 1", line: 1, message: "expected ']' to close the table header, found the end of the line"),
    ]

    @Test(arguments: invalid)
    func rejectsInvalidDocuments(_ case_: Invalid) {
        do {
            _ = try TOMLParser.parse(case_.text)
            Issue.record("parsed: \(case_.text)")
        } catch let error as TOMLError {
            #expect(error.line == case_.line)
            #expect(error.message == case_.message)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: TOMLError(line: 1, column: 1, message: "the file is not valid UTF-8")) {
            try TOMLParser.parse(bytes: [0x61, 0x20, 0x3d, 0x20, 0x22, 0xff, 0x22])
        }
    }

    private func lookup(_ table: TOMLTable, _ path: String) -> TOMLValue? {
        // Quoted keys with dots are looked up whole first.
        if let entry = table[path] { return entry.value }
        var current = table
        let parts = path.split(separator: ".").map(String.init)
        for (i, part) in parts.enumerated() {
            guard let entry = current[part] else { return nil }
            if i == parts.count - 1 { return entry.value }
            guard case .table(let next) = entry.value else { return nil }
            current = next
        }
        return nil
    }
}
