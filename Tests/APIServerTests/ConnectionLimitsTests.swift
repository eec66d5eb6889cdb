import Testing
@testable import APIServer

/// The limits of `skiff service` connections: flags win over the environment, which wins over
/// the defaults; bad values are refused naming where they came from.
struct ConnectionLimitsTests {
    @Test func defaultsWithoutFlagsOrEnvironment() throws {
        let limits = try ConnectionLimits.resolve(options: [:], environment: { _ in nil })
        #expect(limits == ConnectionLimits(headerTimeout: 30, keepAliveTimeout: 120, maxConnections: nil))
    }

    @Test func flagsWinOverTheEnvironment() throws {
        let environment = ["SKIFF_HEADER_TIMEOUT": "7", "SKIFF_KEEPALIVE_TIMEOUT": "9", "SKIFF_MAX_CONNECTIONS": "50"]
        let limits = try ConnectionLimits.resolve(options: ["--header-timeout": "3"],
                                                  environment: { environment[$0] })
        #expect(limits == ConnectionLimits(headerTimeout: 3, keepAliveTimeout: 9, maxConnections: 50))
    }

    @Test func zeroTurnsATimeoutOff() throws {
        let limits = try ConnectionLimits.resolve(options: ["--header-timeout": "0", "--keepalive-timeout": "0"],
                                                  environment: { _ in nil })
        #expect(limits.headerNanoseconds == nil)
        #expect(limits.keepAliveNanoseconds == nil)
    }

    @Test func badValuesAreRefusedNamingTheirSource() {
        #expect(throws: ServiceError.self) {
            try ConnectionLimits.resolve(options: ["--keepalive-timeout": "-1"], environment: { _ in nil })
        }
        do {
            _ = try ConnectionLimits.resolve(options: [:], environment: { $0 == "SKIFF_MAX_CONNECTIONS" ? "0" : nil })
            Issue.record("a cap of 0 was accepted")
        } catch {
            #expect((error as? ServiceError)?.message == "SKIFF_MAX_CONNECTIONS must be a whole number, at least 1; got '0'")
        }
    }

    @Test func theDefaultCapIsHalfTheDescriptorsWithinBounds() {
        #expect(ConnectionLimits.defaultMaxConnections(descriptorLimit: 1024) == 512)
        #expect(ConnectionLimits.defaultMaxConnections(descriptorLimit: 20) == 16)
        #expect(ConnectionLimits.defaultMaxConnections(descriptorLimit: 1_048_576) == 16384)
    }
}
