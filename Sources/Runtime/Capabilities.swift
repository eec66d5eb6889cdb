import CCap
#if canImport(Glibc)
import Glibc
import OCI
#endif

/// Linux capability names and numbers, through libcap, and the CapAdd/CapDrop merge rules.
///
/// Names are accepted the way Docker and Podman accept them on the command line and in the API:
/// case-insensitive, with or without the `CAP_` prefix (`chown`, `CHOWN`, `cap_chown` and
/// `CAP_CHOWN` all normalize to `CAP_CHOWN`), plus the magic value `ALL` in add/drop lists.
/// Only capabilities the running kernel knows are valid (libcap's `cap_max_bits()`, which reads
/// the kernel's last capability), so a name this kernel cannot grant fails early.
public enum Capabilities {
    /// The magic value of CapAdd/CapDrop meaning "every capability".
    public static let all = "ALL"

    /// How many capabilities the running kernel knows (numbers `0..<kernelCount`).
    public static var kernelCount: Int { Int(cap_max_bits()) }

    /// `CAP_` names of the capabilities the running kernel knows, indexed by number. A number libcap
    /// has no name for (a kernel newer than libcap) has no entry: it cannot be named in a config.
    static let names: [String?] = {
        let count = min(max(Int(cap_max_bits()), 0), 64)
        return (0..<count).map { number -> String? in
            guard let raw = cap_to_name(cap_value_t(number)) else { return nil }
            defer { cap_free(raw) }
            let name = String(cString: raw).uppercased()
            // libcap renders an unnamed capability as its decimal number.
            return name.hasPrefix("CAP_") ? name : nil
        }
    }()

    /// Every capability the running kernel knows, in number order (what `ALL` expands to).
    public static var allNames: [String] { names.compactMap { $0 } }

    /// `CAP_X` for any accepted spelling of X, or `ALL`. Throws for a name this kernel does not know.
    public static func normalize(_ name: String) throws -> String {
        var upper = name.uppercased()
        if upper == all { return all }
        if !upper.hasPrefix("CAP_") { upper = "CAP_" + upper }
        _ = try number(ofNormalized: upper)
        return upper
    }

    /// The capability number for any accepted spelling (`ALL` is not a capability and is rejected).
    public static func number(of name: String) throws -> Int {
        var upper = name.uppercased()
        if !upper.hasPrefix("CAP_") { upper = "CAP_" + upper }
        return try number(ofNormalized: upper)
    }

    /// The `CAP_` name of a capability number, or nil when the kernel or libcap does not know it.
    public static func name(of number: Int) -> String? {
        guard number >= 0, number < names.count else { return nil }
        return names[number]
    }

    private static func number(ofNormalized upper: String) throws -> Int {
        var value: cap_value_t = 0
        // cap_from_name also takes decimal numbers and "all"; the round trip through the name
        // table accepts names only.
        guard cap_from_name(upper.lowercased(), &value) == 0,
              let known = name(of: Int(value)), known == upper else {
            throw RuntimeError(.invalidArgument, "unknown capability \"\(upper)\"")
        }
        return Int(value)
    }

    /// Which engine's CapAdd/CapDrop rules `effectiveSet` follows.
    public enum MergeRules: Sendable, Equatable {
        /// moby `oci/caps/utils.go` `TweakCapabilities` (Docker 20.10 to 28): ALL in add wins
        /// over everything (all known capabilities minus the named drops); otherwise ALL in drop
        /// leaves exactly the adds; otherwise defaults minus drops plus adds, so a capability
        /// both dropped and added ends up added.
        case docker
        /// containers/common `pkg/capabilities` `MergeCapabilities` (v0.50, Podman 4.3): ALL in
        /// both is an error; ALL in drop leaves exactly the adds; ALL in add means the engine's
        /// own bounding set minus the drops; a capability both dropped and added is an error.
        case podman
    }

    /// The container's capabilities: `defaults` (containers.conf `default_capabilities`, or the
    /// engine's built-in list) tweaked by CapAdd/CapDrop.
    ///
    /// - Parameter universe: what `ALL` in `add` expands to. Defaults to every capability the
    ///   kernel knows for `.docker` (moby's `GetAllCapabilities`) and to this process's bounding
    ///   set for `.podman` (containers/common's `BoundingSet`).
    public static func effectiveSet(defaults: [String], add: [String], drop: [String],
                                    rules: MergeRules = .docker,
                                    universe: CapabilityMask? = nil) throws -> CapabilityMask {
        // Podman normalizes (and so validates) the base list; moby trusts it. We always validate:
        // a default list comes from a config file a user may have edited.
        let base = try CapabilityMask(names: defaults)
        if add.isEmpty && drop.isEmpty { return base }
        let drops = try drop.map(normalize)
        let adds = try add.map(normalize)
        let addAll = adds.contains(all), dropAll = drops.contains(all)
        let dropMask = try CapabilityMask(names: drops.filter { $0 != all })
        let addMask = try CapabilityMask(names: adds.filter { $0 != all })

        switch rules {
        case .docker:
            if addAll { return (universe ?? .kernelKnown).subtracting(dropMask) }
            if dropAll { return addMask }
            return base.subtracting(dropMask).union(addMask)
        case .podman:
            if dropAll {
                if addAll {
                    throw RuntimeError(.invalidArgument,
                                       "adding all capabilities and dropping all capabilities is not allowed")
                }
                return addMask
            }
            if addAll { return try (universe ?? CapabilityMask.currentBounding()).subtracting(dropMask) }
            let both = addMask.intersection(dropMask)
            if let first = both.names.first {
                throw RuntimeError(.invalidArgument, "capability \"\(first)\" cannot be dropped and added")
            }
            return base.subtracting(dropMask).union(addMask)
        }
    }
}

/// A set of capabilities as the kernel keeps it: one bit per capability number.
public struct CapabilityMask: Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let empty = CapabilityMask(rawValue: 0)

    /// Every capability the running kernel knows.
    public static var kernelKnown: CapabilityMask {
        let count = min(Capabilities.kernelCount, 64)
        return CapabilityMask(rawValue: count >= 64 ? ~0 : (UInt64(1) << UInt64(count)) - 1)
    }

    /// Capabilities by name, any accepted spelling; `ALL` is not allowed here.
    public init(names: [String]) throws {
        var raw: UInt64 = 0
        for name in names {
            raw |= UInt64(1) << UInt64(try Capabilities.number(of: name))
        }
        rawValue = raw
    }

    /// The mask as `/proc/PID/status` shows it (`CapEff:\t00000000800405fb`): 16 hex digits.
    public var hex: String {
        let digits = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Parses the hex value of a `/proc/PID/status` `Cap*` line.
    public init?(hex: some StringProtocol) {
        guard hex.count <= 16, let raw = UInt64(hex, radix: 16) else { return nil }
        rawValue = raw
    }

    public var numbers: [Int] { (0..<64).filter { rawValue & (UInt64(1) << UInt64($0)) != 0 } }

    /// `CAP_` names in number order (a bit libcap cannot name is left out).
    public var names: [String] { numbers.compactMap(Capabilities.name(of:)) }

    public var isEmpty: Bool { rawValue == 0 }
    public func contains(_ number: Int) -> Bool {
        number >= 0 && number < 64 && rawValue & (UInt64(1) << UInt64(number)) != 0
    }
    public func union(_ other: CapabilityMask) -> CapabilityMask { .init(rawValue: rawValue | other.rawValue) }
    public func intersection(_ other: CapabilityMask) -> CapabilityMask { .init(rawValue: rawValue & other.rawValue) }
    public func subtracting(_ other: CapabilityMask) -> CapabilityMask { .init(rawValue: rawValue & ~other.rawValue) }

    public var description: String { hex }

    /// This process's capability bounding set (`prctl(PR_CAPBSET_READ)` for each known number).
    public static func currentBounding() throws -> CapabilityMask {
        var raw: UInt64 = 0
        for number in 0..<min(Capabilities.kernelCount, 64) {
            let r = cap_get_bound(cap_value_t(number))
            if r < 0 {
                let err = errno
                throw RuntimeError(.system, "read capability bounding set: cap \(number): errno \(err)", errno: err)
            }
            if r == 1 { raw |= UInt64(1) << UInt64(number) }
        }
        return CapabilityMask(rawValue: raw)
    }
}

/// The five capability sets of a process, as OCI describes them and the kernel applies them.
public struct CapabilitySet: Sendable, Hashable {
    public var bounding: CapabilityMask
    public var effective: CapabilityMask
    public var permitted: CapabilityMask
    public var inheritable: CapabilityMask
    public var ambient: CapabilityMask

    public init(bounding: CapabilityMask = .empty, effective: CapabilityMask = .empty,
                permitted: CapabilityMask = .empty, inheritable: CapabilityMask = .empty,
                ambient: CapabilityMask = .empty) {
        self.bounding = bounding
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.ambient = ambient
    }

    /// From an OCI config; an absent list is an empty set, as crun and runc treat it. Names are
    /// accepted in any spelling `Capabilities.normalize` takes, except `ALL`.
    public init(_ oci: Spec.Capabilities) throws {
        bounding = try CapabilityMask(names: oci.bounding ?? [])
        effective = try CapabilityMask(names: oci.effective ?? [])
        permitted = try CapabilityMask(names: oci.permitted ?? [])
        inheritable = try CapabilityMask(names: oci.inheritable ?? [])
        ambient = try CapabilityMask(names: oci.ambient ?? [])
    }

    /// The sets a container's process gets from an engine for the capability list `caps`:
    /// bounding, permitted and effective are the list; inheritable stays empty (moby 20.10.14 and
    /// Podman 4.0.3 stopped filling it, CVE-2022-24769 / CVE-2022-27651); ambient is empty.
    public init(container caps: CapabilityMask) {
        self.init(bounding: caps, effective: caps, permitted: caps)
    }

    /// Back to the OCI form, names in number order.
    public var oci: Spec.Capabilities {
        Spec.Capabilities(bounding: bounding.names, effective: effective.names,
                        inheritable: inheritable.names, permitted: permitted.names,
                        ambient: ambient.names)
    }

    /// The lines `/proc/PID/status` shows for a process holding these sets, in the kernel's order.
    public var statusLines: String {
        "CapInh:\t\(inheritable.hex)\nCapPrm:\t\(permitted.hex)\nCapEff:\t\(effective.hex)\n"
            + "CapBnd:\t\(bounding.hex)\nCapAmb:\t\(ambient.hex)\n"
    }
}
