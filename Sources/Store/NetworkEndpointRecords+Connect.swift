extension Store {
    /// Removes the container's endpoint on one network (`POST /networks/{id}/disconnect`, or a
    /// connect undone); whether there was one.
    @discardableResult
    public func removeEndpoint(containerID: String, networkID: String) throws -> Bool {
        try database.transaction {
            let had = try endpoints(ofContainer: containerID).contains { $0.networkID == networkID }
            try database.query("DELETE FROM network_endpoints WHERE container_id = ? AND network_id = ?",
                               [.text(containerID), .text(networkID)])
            return had
        }
    }
}
