import Platform
import Store
import Testing
@testable import APIServer

/// State.Health in inspect, the health part of `docker ps`'s STATUS, the list's `health` filter.
struct HealthViewTests {
    typealias V = ContainerViewTests

    @Test func statusShowsTheHealthOfARunningContainer() {
        let started = "2023-11-14T22:13:18Z"
        let running = V.record("a", .running, startedAt: started)
        #expect(ContainerView.status(running, now: V.now, health: "starting") == "Up 2 seconds (health: starting)")
        #expect(ContainerView.status(running, now: V.now, health: "healthy") == "Up 2 seconds (healthy)")
        #expect(ContainerView.status(running, now: V.now, health: "unhealthy") == "Up 2 seconds (unhealthy)")
        #expect(ContainerView.status(running, now: V.now) == "Up 2 seconds")
        let exited = V.record("a", .exited, exitCode: 1, startedAt: started, finishedAt: "2023-11-14T22:13:19Z")
        #expect(ContainerView.status(exited, now: V.now, health: "unhealthy") == "Exited (1) 1 second ago")
    }

    @Test func inspectCarriesStateHealthLast() throws {
        let record = V.record("b", .running, startedAt: "2023-11-14T22:13:18Z")
        let health = HealthRecord(status: "healthy", failingStreak: 0,
                                  log: [HealthResult(start: "s", end: "e", exitCode: 0, output: "ok\n")])
        let state = try ContainerView.inspect(record, health: health)["State"]
        guard case .object(let members)? = state else {
            Issue.record("no State")
            return
        }
        #expect(members.last?.key == "Health")
        #expect(state?["Health"] == health.json)
        #expect(try ContainerView.inspect(record)["State"]?["Health"] == nil)
    }

    @Test func healthFilter() throws {
        let records = [V.record("a", .running), V.record("b", .running), V.record("c", .running)]
        let health = [records[0].id: "healthy", records[1].id: "unhealthy"]
        func selected(_ value: String) throws -> [String] {
            let filters = try Filters(#"{"health":["\#(value)"]}"#, allowed: ContainerSpecHandlers.listFilters)
            return try ContainerListQuery(filters: filters, all: false, limit: 0, ancestors: nil, records: records,
                                          health: health).select(records).map(\.id)
        }
        #expect(try selected("healthy") == [records[0].id])
        #expect(try selected("unhealthy") == [records[1].id])
        #expect(try selected("none") == [records[2].id])
        #expect(try selected("starting") == [])
    }
}
