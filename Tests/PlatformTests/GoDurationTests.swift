import Platform
import Testing

struct GoDurationTests {
    @Test(arguments: [("0", Int64(0)), ("30s", 30_000_000_000), ("1m30s", 90_000_000_000), ("1.5h", 5_400_000_000_000),
                      ("500ms", 500_000_000), ("10us", 10_000), ("10\u{00B5}s", 10_000), ("7ns", 7), ("-2s", -2_000_000_000),
                      ("+.5s", 500_000_000), ("1h2m3s4ms5us6ns", 3_723_004_005_006)])
    func parsesGoDurations(_ text: String, _ nanos: Int64) {
        #expect(GoDuration.nanoseconds(text) == nanos)
    }

    @Test(arguments: ["", "5", "s", "1x", "1.s.", "--1s", "1s ", "3000000h", "."])
    func refusesWhatGoRefuses(_ text: String) {
        #expect(GoDuration.nanoseconds(text) == nil)
    }
}
