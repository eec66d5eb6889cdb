import Platform

/// The body of `POST /containers/{id}/update` (moby's `container.UpdateConfig`: the
/// `Resources` members at the top level, and `RestartPolicy`). Zero means "not changed", as
/// moby reads it; `PidsLimit` is changed when present.
struct UpdateRequest: Sendable, Equatable {
    var restartPolicy: CreateRequest.RestartPolicy?
    var blkioWeight: Int64 = 0
    var cpuShares: Int64 = 0
    var cpuPeriod: Int64 = 0
    var cpuQuota: Int64 = 0
    var cpuRealtimePeriod: Int64 = 0
    var cpuRealtimeRuntime: Int64 = 0
    var nanoCpus: Int64 = 0
    var cpusetCpus = ""
    var cpusetMems = ""
    var memory: Int64 = 0
    var memorySwap: Int64 = 0
    var memoryReservation: Int64 = 0
    var kernelMemory: Int64 = 0
    var pidsLimit: Int64?

    /// Some limit changes (anything but the restart policy).
    var changesResources: Bool {
        blkioWeight != 0 || changesCPU || !cpusetCpus.isEmpty || !cpusetMems.isEmpty || changesMemory || pidsLimit != nil
    }
    var changesCPU: Bool { cpuShares != 0 || cpuPeriod != 0 || cpuQuota != 0 || nanoCpus != 0 }
    var changesMemory: Bool { memory != 0 || memorySwap != 0 || memoryReservation != 0 }

    /// Decodes a body with Go's error texts (`invalid JSON: json: cannot unmarshal string into
    /// Go struct field UpdateConfig.Memory of type int64`). An empty body changes nothing.
    static func decode(_ body: [UInt8]) throws -> UpdateRequest {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return UpdateRequest() }
        let json: JSON
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw EngineError(.invalidArgument, "invalid JSON: \(error.message)")
        }
        if json == .null { return UpdateRequest() }
        let d = GoDecoder(root: "UpdateConfig")
        guard case .object = json else { throw d.fail(json, "", "container.UpdateConfig") }
        let f = try d.object(json, "")
        var u = UpdateRequest()
        if let value = f["restartpolicy"] {
            let r = try d.object(value, "RestartPolicy", goType: "container.RestartPolicy")
            var policy = CreateRequest.RestartPolicy()
            policy.name = try d.string(r, "Name", "RestartPolicy")
            policy.maximumRetryCount = Int(try d.optionalInt64(r, "MaximumRetryCount", "RestartPolicy", goType: "int") ?? 0)
            u.restartPolicy = policy
        }
        u.blkioWeight = try d.int64(f, "BlkioWeight", "")
        u.cpuShares = try d.int64(f, "CpuShares", "")
        u.cpuPeriod = try d.int64(f, "CpuPeriod", "")
        u.cpuQuota = try d.int64(f, "CpuQuota", "")
        u.cpuRealtimePeriod = try d.int64(f, "CpuRealtimePeriod", "")
        u.cpuRealtimeRuntime = try d.int64(f, "CpuRealtimeRuntime", "")
        u.nanoCpus = try d.int64(f, "NanoCpus", "")
        u.cpusetCpus = try d.string(f, "CpusetCpus", "")
        u.cpusetMems = try d.string(f, "CpusetMems", "")
        u.memory = try d.int64(f, "Memory", "")
        u.memorySwap = try d.int64(f, "MemorySwap", "")
        u.memoryReservation = try d.int64(f, "MemoryReservation", "")
        u.kernelMemory = try d.int64(f, "KernelMemory", "")
        u.pidsLimit = try d.optionalInt64(f, "PidsLimit", "")
        return u
    }
}
