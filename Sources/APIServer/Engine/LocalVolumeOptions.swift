#if canImport(Glibc)
import Glibc
#endif
import OCI

/// The local driver's `DriverOpts` (moby's `volume/local`): `type`, `o`, `device`, `size`.
/// Docker mounts such a volume on its `_data` when a container first uses it; Skiff has no
/// host mount to share (rootless, it may make none), so the mount is made in each container that
/// uses the volume, at its destination: `type=tmpfs` is a tmpfs of that container's,
/// `type=none,o=bind,device=PATH` a bind of PATH, another type (root only) that filesystem.
struct LocalVolumeOptions: Sendable, Equatable {
    var type = ""
    var options = ""
    var device = ""

    static let valid: Set<String> = ["type", "o", "device", "size"]
    /// moby's mandatoryOpts, checked in this order: an option and the ones it needs.
    static let mandatory: [(String, [String])] = [("device", ["type"]), ("type", ["device"]), ("o", ["device", "type"])]

    /// Validates as moby's `validateOpts`/`setOpts` (the messages are the create error's tail).
    init(_ given: [String: String]) throws {
        for key in given.keys.sorted() where !LocalVolumeOptions.valid.contains(key) {
            throw EngineError(.invalidArgument, "invalid option: \"\(key)\"")
        }
        if let size = given["size"] {
            guard let bytes = LocalVolumeOptions.ramInBytes(size) else {
                throw EngineError(.invalidArgument, "invalid size: '\(size)'")
            }
            // moby sets a quota only on a backing filesystem with project quotas (xfs); the
            // volumes directory here has none it may set, rootless or not.
            if bytes > 0 { throw EngineError(.invalidArgument, "quota size requested but no quota support") }
        }
        for (option, needed) in LocalVolumeOptions.mandatory where given[option] != nil {
            for other in needed where given[other] == nil {
                throw EngineError(.invalidArgument, "missing required option: \"\(other)\"")
            }
        }
        type = given["type"] ?? ""
        options = given["o"] ?? ""
        device = given["device"] ?? ""
    }

    /// Whether the volume is mounted from its options rather than being its `_data` directory.
    var needsMount: Bool { !type.isEmpty || !device.isEmpty }

    var optionWords: [String] { options.split(separator: ",").map(String.init).filter { !$0.isEmpty } }

    var isBind: Bool { optionWords.contains("bind") || optionWords.contains("rbind") }

    /// The OCI mount for a container using the volume at `destination`; `mountpoint` is the
    /// volume's `_data` (named in the error as moby names it).
    func specMount(destination: String, readOnly: Bool, mountpoint: String) throws -> Spec.Mount {
        var words = optionWords
        if readOnly && !words.contains("ro") { words.append("ro") }
        if isBind {
            var info = stat()
            guard stat(device, &info) == 0 else {
                let code = errno
                throw EngineError(.internal, "error while mounting volume '\(mountpoint)': failed to mount local volume: "
                                  + "mount \(device):\(mountpoint), flags: 0x1000: \(String(cString: strerror(code)).lowercased())")
            }
            if !words.contains("rprivate") && !words.contains("private") { words.append("rprivate") }
            return Spec.Mount(destination: destination, type: "bind", source: device, options: words)
        }
        return Spec.Mount(destination: destination, type: type, source: device, options: words)
    }

    /// go-units' RAMInBytes: a number with an optional binary suffix (`k`, `m`, `g`, `t`, `p`,
    /// with or without `b`/`ib`), case-insensitive.
    static func ramInBytes(_ text: String) -> Int64? {
        let lower = text.lowercased()
        var digits = ""
        var rest = Substring(lower)
        while let c = rest.first, c.isNumber || c == "." { digits.append(c); rest = rest.dropFirst() }
        guard let value = Double(digits) else { return nil }
        var suffix = String(rest).trimmingCharacters(in: " ")
        if suffix.hasSuffix("ib") { suffix.removeLast(2) } else if suffix.hasSuffix("b") { suffix.removeLast() }
        let powers: [String: Double] = ["": 1, "k": 1024, "m": 1_048_576, "g": 1_073_741_824, "t": 1_099_511_627_776, "p": 1_125_899_906_842_624]
        guard let multiplier = powers[suffix] else { return nil }
        return Int64(value * multiplier)
    }
}

private extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
