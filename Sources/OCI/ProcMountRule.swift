/// runc's checkProcMount, by the mount's destination: nothing but procfs on /proc, and nothing
/// inside it but binds over the files lxcfs replaces. A volume or bind there would hide the
/// kernel's files, masked paths included. The service refuses such mounts at create, the runtime
/// again when it reads a bundle; the runtime's child also checks where the target resolves to
/// in the rootfs (a symlink may lead into /proc), which only it can see.
public enum ProcMountRule {
    /// Files under /proc an lxcfs-style bind may replace (runc's list).
    public static let replaceableFiles: Set<String> = [
        "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
        "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
        "/proc/sys/crypto/fips_enabled",
    ]

    /// Why a mount of `type` at `destination` (clean and absolute) is refused, in runc's words;
    /// nil when it is not.
    public static func refusal(destination: String, type: String?) -> String? {
        if destination == "/proc" && type != "proc" {
            return "\"\(destination)\" cannot be mounted because it is not of type proc"
        }
        if destination.hasPrefix("/proc/") && !replaceableFiles.contains(destination) {
            return "\"\(destination)\" cannot be mounted because it is inside /proc"
        }
        return nil
    }
}
