import Testing
@testable import Platform
#if canImport(Glibc)
import Glibc
#endif

/// What JSON writes: escapes at every position of a run, and RFC 3339 times as Go prints them.
struct JSONWriterTests {
    @Test(arguments: [
        ("", #""""#),
        ("plain", #""plain""#),
        ("\"", #""\"""#),
        ("a\"b\\c", #""a\"b\\c""#),
        ("\n\r\t", #""\n\r\t""#),
        ("x\u{01}y\u{1F}z\u{7F}", #""x\u0001y\u001fz\u007f""#),
        ("end\\", #""end\\""#),
        ("ünïcödé 😀", "\"ünïcödé 😀\""),
    ])
    func stringsAreEscaped(_ input: String, _ written: String) {
        #expect(JSON.string(input).text == written)
        #expect(JSON.object([JSON.Member(input, .null)]).text == "{\(written):null}")
    }

    @Test func aLongStringIsCopiedWhole() {
        let long = String(repeating: "abcdefgh", count: 4096) + "\"" + String(repeating: "z", count: 100)
        let text = JSON.string(long).text
        #expect(text.utf8.count == long.utf8.count + 3)
        #expect(text.hasSuffix("\\\"" + String(repeating: "z", count: 100) + "\""))
    }

    @Test(arguments: [
        (Int(0), 0, "1970-01-01T00:00:00Z"),
        (1_700_000_000, 123_000_000, "2023-11-14T22:13:20.123Z"),
        (1_700_000_000, 1, "2023-11-14T22:13:20.000000001Z"),
        (253_402_300_799, 999_999_999, "9999-12-31T23:59:59.999999999Z"),
    ])
    func timesAsGoPrintsThem(_ seconds: Int, _ nanoseconds: Int, _ written: String) {
        #expect(Timestamp.rfc3339Nano(timespec(tv_sec: seconds, tv_nsec: nanoseconds), utc: true) == written)
    }
}
