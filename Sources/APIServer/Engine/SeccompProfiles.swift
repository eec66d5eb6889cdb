import OCI
import Platform

/// Where a container's seccomp profile comes from: SecurityOpt `seccomp=<file|inline JSON>`,
/// else containers.conf `seccomp_profile`, else the first installed seccomp.json, else the
/// built-in default (`DefaultSeccompProfile`), as Podman falls back on the default compiled into
/// containers/common. The OCI module parses the profile and chooses its rules
/// (`SeccompProfile.oci(for:)`).
enum SeccompProfiles {
    /// Where the default profile is looked for when containers.conf names none: Podman's two
    /// places, then the copy Skiff installs beside its binary (`<prefix>/share/skiff`), then a
    /// build tree's `share/seccomp.json`.
    static func defaultProfilePaths(executable: String? = SelfExecutable.path) -> [String] {
        var paths = ["/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json"]
        if let executable, let slash = executable.lastIndex(of: "/") {
            var directory = String(executable[..<slash])
            paths.append(directory + "/../share/skiff/seccomp.json")
            for _ in 0..<4 {
                guard let up = directory.lastIndex(of: "/") else { break }
                directory = String(directory[..<up])
                paths.append(directory + "/share/seccomp.json")
            }
        }
        return paths
    }

    /// containers.conf `seccomp_profile` when set (it must exist), else the first default file
    /// that exists, else the built-in profile.
    static func load(configured: String, candidates: [String] = defaultProfilePaths()) throws -> SeccompProfile {
        for path in configured.isEmpty ? candidates : [configured] {
            guard let bytes = try? FileSystem.readFile(path) else { continue }
            return try parse(bytes, source: path)
        }
        if !configured.isEmpty {
            throw EngineError(.internal, "opening seccomp profile (\(configured)) failed: containers.conf seccomp_profile: no such file")
        }
        do {
            return try DefaultSeccompProfile.profile()
        } catch {
            throw EngineError(.internal, "the built-in seccomp profile: \(error.message)")
        }
    }

    /// A profile in the containers.conf (Docker/Podman) format; `source` names it in errors.
    static func parse(_ bytes: [UInt8], source: String) throws -> SeccompProfile {
        do {
            return try SeccompProfile.parse(bytes, source: source)
        } catch {
            throw EngineError(.invalidArgument, "decoding seccomp profile failed: \(error.message)")
        }
    }
}
