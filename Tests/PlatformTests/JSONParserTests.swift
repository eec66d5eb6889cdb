import Testing
@testable import Platform

struct JSONParserTests {
    @Test(arguments: [
        (#"{"a": 1, "b": [true, false, null], "c": "x"}"#, #"{"a":1,"b":[true,false,null],"c":"x"}"#),
        ("18446744073709551615", "18446744073709551615"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("1.5e3", "1500"),
        ("0.25", "0.25"),
        (#""tab\tquote\"slash\/u\u00e9 \ud83d\ude00""#, "\"tab\\tquote\\\"slash/ué 😀\""),
        ("[1, 2,]", "[1,2]"),
        (#"{"k": 1, "k": 2}"#, #"{"k":1,"k":2}"#),
        ("  [ ]  ", "[]"),
    ])
    func parsesAndWritesBack(_ text: String, _ written: String) throws {
        #expect(try JSONParser.parse(text).text == written)
    }

    @Test func integerKinds() throws {
        #expect(try JSONParser.parse("5") == .int(5))
        #expect(try JSONParser.parse("9223372036854775808") == .uint(9223372036854775808))
        #expect(try JSONParser.parse("-1") == .int(-1))
        #expect(try JSONParser.parse("1e2") == .double(100))
        #expect(try JSONParser.parse(#"{"k": 1, "k": 2}"#)["k"] == .int(2))
    }

    @Test(arguments: [
        ("", "line 1, column 1: the file is empty"),
        ("{\n  \"a\": 1\n  \"b\": 2\n}", "line 3, column 3: expected ',' or '}', found '\"'"),
        ("[1, 2", "line 1, column 6: expected ',' or ']', found the end of the file"),
        (#"{"a" 1}"#, "line 1, column 6: expected ':', found '1'"),
        ("{a: 1}", "line 1, column 2: expected a key in double quotes, found 'a'"),
        (#""abc"#, "line 1, column 1: string never closed"),
        (#""\x""#, "line 1, column 3: bad escape '\\x' in a string"),
        ("01", "line 1, column 2: unexpected text after the end of the JSON value"),
        ("-", "line 1, column 1: bad number"),
        ("tru", "line 1, column 4: expected true, found the end of the file"),
        ("\"a\u{01}\"", "line 1, column 3: control character in a string (write it as an escape)"),
    ])
    func reportsWhereAndWhat(_ text: String, _ message: String) {
        #expect(throws: JSONParser.Failure(message: message)) { try JSONParser.parse(text) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONParser.Failure(message: "line 1, column 513: nested too deeply")) { try JSONParser.parse(deep) }
    }
}

struct TimestampTests {
    @Test(arguments: [("1970-01-01T00:00:00Z", Int64(0)), ("2024-02-29T12:34:56.789Z", Int64(1_709_210_096)),
                      ("2024-02-29T14:34:56+02:00", Int64(1_709_210_096)), ("1969-12-31T23:59:59Z", Int64(-1)),
                      ("2000-03-01T00:00:00.000000001-00:30", Int64(951_870_600))])
    func parsesRFC3339(_ text: String, _ seconds: Int64) {
        #expect(Timestamp.parseRFC3339(text) == seconds)
    }

    @Test(arguments: ["", "2024-02-29", "2024-02-29T12:34:56", "2024-13-01T00:00:00Z", "2024-02-29T12:34:56Zjunk",
                      "2024-02-29T12:34:56+0200"])
    func refusesMalformedTimes(_ text: String) {
        #expect(Timestamp.parseRFC3339(text) == nil)
    }
}
