/// One contiguous id mapping, as in OCI `linux.uidMappings` and `/proc/PID/uid_map`.
public struct IDMapping: Sendable, Equatable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32

    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.size = size
    }
}

extension [IDMapping] {
    /// The arguments `newuidmap PID` / `newgidmap PID` take after the pid.
    public var helperArguments: [String] {
        flatMap { [String($0.containerID), String($0.hostID), String($0.size)] }
    }

    /// The text written to `/proc/PID/uid_map` directly (root, or a single own-id map).
    public var procText: String {
        map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
    }

    /// The host id that `containerID` maps to, if any.
    public func hostID(for containerID: UInt32) -> UInt32? {
        for m in self where containerID >= m.containerID && containerID - m.containerID < m.size {
            return m.hostID + (containerID - m.containerID)
        }
        return nil
    }
}
