import Monitor
import Testing

@Suite struct RestartPolicyTests {
    @Test(arguments: [
        ("no", RestartPolicy.no), ("", .no), ("always", .always), ("unless-stopped", .unlessStopped),
        ("on-failure", .onFailure(maximumRetries: 0)), ("on-failure:5", .onFailure(maximumRetries: 5)),
    ])
    func parses(text: String, policy: RestartPolicy) {
        #expect(RestartPolicy(parsing: text) == policy)
    }

    @Test(arguments: ["sometimes", "on-failure:", "on-failure:-1", "on-failure:x", "Always"])
    func refuses(text: String) {
        #expect(RestartPolicy(parsing: text) == nil)
    }

    @Test func decidesAsMobyDoes() {
        #expect(!RestartPolicy.no.shouldRestart(exitCode: 1, restarts: 0, stopRequested: false))
        #expect(RestartPolicy.always.shouldRestart(exitCode: 0, restarts: 100, stopRequested: false))
        #expect(RestartPolicy.unlessStopped.shouldRestart(exitCode: 0, restarts: 0, stopRequested: false))
        // A stop from the API ends every policy.
        #expect(!RestartPolicy.always.shouldRestart(exitCode: 137, restarts: 0, stopRequested: true))
        #expect(!RestartPolicy.unlessStopped.shouldRestart(exitCode: 1, restarts: 0, stopRequested: true))
        let twice = RestartPolicy.onFailure(maximumRetries: 2)
        #expect(!twice.shouldRestart(exitCode: 0, restarts: 0, stopRequested: false))
        #expect(twice.shouldRestart(exitCode: 1, restarts: 0, stopRequested: false))
        #expect(twice.shouldRestart(exitCode: 1, restarts: 1, stopRequested: false))
        #expect(!twice.shouldRestart(exitCode: 1, restarts: 2, stopRequested: false))
        #expect(RestartPolicy.onFailure(maximumRetries: 0).shouldRestart(exitCode: 3, restarts: 1000, stopRequested: false))
    }
}

@Suite struct RestartBackoffTests {
    @Test func doublesFrom100msUpToAMinute() {
        var backoff = RestartBackoff()
        var delays: [UInt64] = []
        for _ in 0..<12 { delays.append(backoff.next(ranFor: 1_000_000)) }
        #expect(Array(delays.prefix(4)) == [100_000_000, 200_000_000, 400_000_000, 800_000_000])
        #expect(delays[9] == 51_200_000_000)
        #expect(delays[10] == 60_000_000_000)
        #expect(delays[11] == 60_000_000_000)
    }

    @Test func goesOnFromADelayCarriedAcrossTheRelay() {
        var backoff = RestartBackoff(delay: 400_000_000)
        #expect(backoff.next(ranFor: 0) == 800_000_000)
        #expect(RestartBackoff(delay: 0) == RestartBackoff())
    }

    @Test(arguments: [RestartPolicy.no, .always, .unlessStopped, .onFailure(maximumRetries: 0),
                      .onFailure(maximumRetries: 5)])
    func policyArgumentParsesBack(policy: RestartPolicy) {
        #expect(RestartPolicy(parsing: policy.argument) == policy)
    }

    @Test func resetsAfterTenSecondsUp() {
        var backoff = RestartBackoff()
        _ = backoff.next(ranFor: 0)
        _ = backoff.next(ranFor: 0)
        #expect(backoff.next(ranFor: 9_999_999_999) == 400_000_000)
        #expect(backoff.next(ranFor: 10_000_000_000) == 100_000_000)
        #expect(backoff.next(ranFor: 0) == 200_000_000)
    }
}
