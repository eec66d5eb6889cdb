import Monitor
import Testing

/// The policy the monitor reads from the row's config at each exit (`docker update --restart`).
@Suite struct RestartPolicyStoredTests {
    @Test(arguments: [
        (#"{"HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":0}}}"#, RestartPolicy.always as RestartPolicy?),
        (#"{"HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}}"#, .onFailure(maximumRetries: 3)),
        (#"{"HostConfig":{"RestartPolicy":{"Name":"","MaximumRetryCount":0}}}"#, .no),
        (#"{"HostConfig":{}}"#, nil),
        ("not json", nil),
        ("", nil),
    ])
    func readsHostConfigRestartPolicy(config: String, expected: RestartPolicy?) {
        #expect(RestartPolicy(storedConfig: Array(config.utf8)) == expected)
    }
}
