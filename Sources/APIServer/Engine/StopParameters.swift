/// How a stop proceeds: the signal sent first, and the seconds to wait for the exit before
/// SIGKILL (-1: no limit).
struct StopParameters: Sendable, Equatable {
    var signal: Int32
    var timeout: Int
}
