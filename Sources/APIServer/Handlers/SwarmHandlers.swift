/// `/swarm`, `/services`, `/nodes`, `/tasks`, `/secrets`, `/configs`: Skiff is never part of a
/// swarm, so each answers as Docker answers on a node that is not in one (moby's
/// `daemon/cluster/errors.go`), status 503; clients that probe these (docker-py's teardown,
/// `docker info`-driven tools) carry on.
enum SwarmHandlers {
    static let notManager = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."

    /// Every cluster object and the swarm's own state: moby's errNoManager.
    @Sendable static func notSwarmManager(_ request: Request, _ engine: Engine) throws -> Response {
        throw EngineError(.unavailable, notManager)
    }

    /// `docker swarm leave`: moby's errNoSwarm.
    @Sendable static func swarmLeave(_ request: Request, _ engine: Engine) throws -> Response {
        throw EngineError(.unavailable, "This node is not part of a swarm")
    }

    /// `docker swarm init|join`: this engine cannot become a swarm node.
    @Sendable static func swarmUnsupported(_ request: Request, _ engine: Engine) throws -> Response {
        throw EngineError(.unavailable, "Skiff does not run swarm mode: this node cannot init or join a swarm")
    }
}
