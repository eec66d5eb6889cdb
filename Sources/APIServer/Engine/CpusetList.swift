import Platform

/// A Linux CPU or memory-node list ("0-3,5", as cpuset.cpus and /sys/devices/system/cpu/online
/// write them), for Docker's checks of `--cpuset-cpus` and `--cpuset-mems` (moby's
/// `parsers.ParseUintList` and `sysinfo.IsCpusetCpusAvailable`).
struct CpusetList: Equatable {
    /// The numbers listed.
    var members: Set<Int>

    /// Most a list may name (moby's parser allows up to this many numbers).
    static let maximum = 8192

    /// Nil when `text` is not a list: empty parts, a range whose end is before its start,
    /// anything but digits, '-' and ','.
    init?(_ text: String) {
        let text = String(text[...].trimmingWhitespace)
        guard !text.isEmpty else { return nil }
        var members = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                  bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                  let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
                  low <= high, high < CpusetList.maximum else { return nil }
            members.formUnion(low...high)
        }
        self.members = members
    }

    /// Checks `requested` (Docker's `--cpuset-cpus` or `--cpuset-mems`) against `available`
    /// (the host's list as read): Docker's messages, 400.
    static func check(_ requested: String, available: String, kind: Kind) throws {
        guard !requested.isEmpty else { return }
        guard let wanted = CpusetList(requested) else {
            throw EngineError(.invalidArgument, "Invalid value \(requested) for cpuset \(kind.rawValue)")
        }
        let present = CpusetList(available)?.members ?? []
        guard wanted.members.isSubset(of: present) else {
            throw EngineError(.invalidArgument, "Requested \(kind.noun) are not available - requested \(requested), "
                              + "available: \(available)")
        }
    }

    enum Kind: String {
        case cpus
        case mems

        var noun: String { self == .cpus ? "CPUs" : "memory nodes" }
    }

    /// The host's online CPUs and memory nodes, as the kernel lists them (a host without NUMA
    /// information has node 0 alone).
    static func online(_ kind: Kind) -> String {
        let path = kind == .cpus ? "/sys/devices/system/cpu/online" : "/sys/devices/system/node/online"
        let text = (try? FileSystem.readFile(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let trimmed = String(text[...].trimmingWhitespace)
        return trimmed.isEmpty ? "0" : trimmed
    }
}
