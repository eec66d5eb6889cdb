/// What a container wait waits for (`POST /containers/{id}/wait`'s `condition`): the container
/// not running, its next exit, or its removal.
enum WaitCondition: String, Sendable, CaseIterable {
    case notRunning = "not-running"
    case nextExit = "next-exit"
    case removed
}
