import CSeccomp
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Compiled seccomp programs kept on disk, as crun keeps them: libseccomp needs 15-20 ms of CPU
/// for Podman's profile (about 370 syscalls), which would be most of a container's start. The
/// key is the SHA-256 of everything the program depends on: the profile as written, the
/// effective capabilities, the kernel version, the architecture and libseccomp's version. A
/// file that does not hash to what its header says is ignored and replaced.
enum SeccompCache {
    static let magic = "SKIFFBPF1"

    /// The program from `directory` when present and intact, else `compile()`, stored for the
    /// next container.
    static func program(profileJSON: [UInt8], capabilities: UInt64, directory: String?,
                        compile: () throws -> Seccomp.Program) throws -> Seccomp.Program {
        guard let directory else { return try compile() }
        var keyInput = profileJSON
        keyInput += Array("|caps=\(String(capabilities, radix: 16))|kernel=\(kernelRelease())|arch=\(Seccomp.nativeArchitecture() ?? "")|libseccomp=\(libraryVersion())".utf8)
        let key = Hex.lowercase(sha256(keyInput))
        let path = directory + "/" + key + ".bpf"
        if let cached = read(path) { return cached }
        let program = try compile()
        guard program.skippedSyscalls.isEmpty else { return program }
        write(program, to: path, directory: directory)
        return program
    }

    static func read(_ path: String) -> Seccomp.Program? {
        guard let bytes = try? FileSystem.readFile(path, limit: 4 << 20) else { return nil }
        // "SKIFFBPF1\n<flags, comma separated>\n<sha256 hex of the program>\n<program>"
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0A && lines.count < 3 {
            lines.append(bytes[start..<i])
            start = i + 1
        }
        guard lines.count == 3, String(decoding: lines[0], as: UTF8.self) == magic else { return nil }
        let program = Array(bytes[start...])
        guard !program.isEmpty, program.count % 8 == 0,
              String(decoding: lines[2], as: UTF8.self) == Hex.lowercase(sha256(program)) else { return nil }
        let flags = String(decoding: lines[1], as: UTF8.self).split(separator: ",").map(String.init)
        return Seccomp.Program(bytes: program, flags: flags, skippedSyscalls: [])
    }

    /// Written under a name of this process, then renamed: concurrent starts never see half a file.
    static func write(_ program: Seccomp.Program, to path: String, directory: String) {
        guard (try? FileSystem.makeDirectories(directory, mode: 0o700)) != nil else { return }
        var bytes = Array("\(magic)\n\(program.flags.joined(separator: ","))\n\(Hex.lowercase(sha256(program.bytes)))\n".utf8)
        bytes += program.bytes
        let temporary = path + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written == bytes.count {
            rename(temporary, path)
        } else {
            unlink(temporary)
        }
    }

    /// Swift's SHA-256, not libcrypto's: for these few KiB loading libcrypto costs ten times
    /// the hashing.
    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        PortableSHA256.hash(bytes)
    }

    static func kernelRelease() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return withUnsafeBytes(of: &names.release) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func libraryVersion() -> String {
        guard let v = seccomp_version() else { return "" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
    }
}
