import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Facts about the machine that `/version` and `/info` report. Read once.
struct HostInfo: Sendable {
    var kernelVersion: String
    /// Go's name for the architecture (`amd64`), as Docker reports it.
    var goArch: String
    /// `uname -m` (`x86_64`).
    var machine: String
    var hostname: String
    var operatingSystem: String
    var osVersion: String
    var cpus: Int
    var memoryTotal: Int64
    var cgroupVersion: String

    static func read() -> HostInfo {
        var names = utsname()
        uname(&names)
        func field<T>(_ value: T) -> String { String(fixedCString: value) }
        let machine = field(names.machine)
        let goArch: String
        switch machine {
        case "x86_64": goArch = "amd64"
        case "aarch64": goArch = "arm64"
        case "i686", "i386": goArch = "386"
        case "armv7l": goArch = "arm"
        default: goArch = machine
        }
        var osName = "Linux"
        var osVersion = ""
        if let release = try? FileText.read("/etc/os-release") {
            for line in release.split(separator: "\n") {
                if line.hasPrefix("PRETTY_NAME=") { osName = unquote(line.dropFirst(12)) }
                if line.hasPrefix("VERSION_ID=") { osVersion = unquote(line.dropFirst(11)) }
            }
        }
        var memoryTotal: Int64 = 0
        if let meminfo = try? FileText.read("/proc/meminfo"),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
           let kib = Int64(line.split(separator: " ").dropFirst().first ?? "") {
            memoryTotal = kib * 1024
        }
        let cgroupVersion = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "2" : "1"
        return HostInfo(kernelVersion: field(names.release), goArch: goArch, machine: machine,
                        hostname: field(names.nodename), operatingSystem: osName, osVersion: osVersion,
                        cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
                        memoryTotal: memoryTotal,
                        cgroupVersion: cgroupVersion)
    }

    private static func unquote(_ s: Substring) -> String {
        var t = s
        if t.first == "\"" && t.last == "\"" && t.count >= 2 { t = t.dropFirst().dropLast() }
        return String(t)
    }
}

/// Reads small text files.
enum FileText {
    static func read(_ path: String, limit: Int = 1 << 20) throws -> String {
        do {
            return String(decoding: try FileSystem.readFile(path, limit: limit), as: UTF8.self)
        } catch {
            throw EngineError(.internal, error.description)
        }
    }
}
