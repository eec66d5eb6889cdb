import Images
import Platform
import Testing

struct WorkerFailureTests {
    @Test(arguments: WorkerFailure.Kind.allCases)
    func aReportReadsBackAsTheSameKindAndMessage(kind: WorkerFailure.Kind) throws {
        let sent = WorkerFailure(kind, "pull busybox: \"quoted\"\nsecond line")
        let received = WorkerFailure(json: try JSONParser.parse(Array(sent.json.text.utf8)))
        #expect(received == sent)
    }

    @Test(arguments: [(#"{"status":400,"message":"bad"}"#, WorkerFailure.Kind.invalidArgument),
                      (#"{"status":404,"message":"bad"}"#, .notFound),
                      (#"{"status":409,"message":"bad"}"#, .conflict),
                      (#"{"status":503,"message":"bad"}"#, .unavailable),
                      (#"{"status":418,"message":"bad"}"#, .failed),
                      (#"{"message":"bad"}"#, .failed)])
    func theWireStatusIsTheKindsCode(text: String, kind: WorkerFailure.Kind) throws {
        #expect(WorkerFailure(json: try JSONParser.parse(Array(text.utf8))) == WorkerFailure(kind, "bad"))
    }

    @Test func anObjectWithoutAMessageIsNoReport() throws {
        #expect(WorkerFailure(json: try JSONParser.parse(Array(#"{"status":404}"#.utf8))) == nil)
    }
}
