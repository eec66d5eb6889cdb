import Config
import MonitorProtocol
import OCI

/// Why each syscall a container's profile can refuse is refused (docs/denials.md), worked out at
/// create time from what chose the filter: the profile (its file and rule indices), the
/// container's capabilities and the settings they came from (containers.conf
/// `default_capabilities` with its file and line, `--cap-drop`). Written beside config.json
/// (`DenialReasons`) for the container's supervisor, which explains each refused call with it.
struct ContainerDenials {
    var profile: SeccompProfile
    /// The container's capabilities (`CAP_` names).
    var capabilities: [String]
    var defaults: [String]
    var defaultsOrigin: Origin?
    var capDrop: [String]

    /// The profile as a person names it: its file, or how it was given.
    var profileName: String {
        switch profile.source {
        case "SecurityOpt": "the profile given with --security-opt seccomp"
        case DefaultSeccompProfile.source: "Skiff's built-in seccomp profile"
        default: profile.source
        }
    }

    func reasons(container: String, hint: Bool) -> DenialReasons {
        let target = SeccompProfile.Target.host(capabilities: capabilities)
        let held = target.capabilities
        let fallback = DenialReasons.Reason(
            kind: .defaultAction, setting: "seccomp profile", origin: "\(profileName) defaultAction",
            text: "no rule of \(profileName) allows it, and its defaultAction \(profile.defaultAction.rawValue) refuses it")
        var reasons: [String: DenialReasons.Reason] = [:]
        var decided: Set<String> = []
        // Rules in profile order: the first that decides a name gives its reason.
        let applying = profile.syscalls.map { SeccompProfile.applies($0, to: target) }
        for (index, rule) in profile.syscalls.enumerated() where applying[index] {
            for name in rule.names where !decided.contains(name) {
                if rule.action == .errno {
                    if let cap = rule.excludes.caps.first(where: { !held.contains($0) }) {
                        reasons[name] = capabilityReason(name, cap, ruleIndex: index, refusing: true)
                    } else {
                        reasons[name] = DenialReasons.Reason(
                            kind: .rule, setting: "seccomp profile", origin: "\(profileName) rule \(index)",
                            text: "rule \(index) of \(profileName) refuses it (\(rule.action.rawValue)"
                                + (rule.comment.isEmpty ? ")" : ": \(rule.comment))"))
                    }
                    decided.insert(name)
                } else if rule.action == .allow && rule.args.isEmpty {
                    decided.insert(name)
                }
            }
        }
        // Allowed only with a capability the container lacks.
        for (index, rule) in profile.syscalls.enumerated() where !applying[index] && rule.action == .allow {
            guard let cap = rule.includes.caps.first(where: { !held.contains($0) }) else { continue }
            for name in rule.names where reasons[name] == nil {
                reasons[name] = capabilityReason(name, cap, ruleIndex: index, refusing: false)
            }
        }
        // Allowed only with some arguments: the others fall to the default action.
        for (index, rule) in profile.syscalls.enumerated() where applying[index] && rule.action == .allow && !rule.args.isEmpty {
            for name in rule.names where reasons[name] == nil {
                reasons[name] = DenialReasons.Reason(
                    kind: .defaultAction, setting: "seccomp profile", origin: "\(profileName) rule \(index)",
                    text: "rule \(index) of \(profileName) allows it only with some argument values; with others, "
                        + "its defaultAction \(profile.defaultAction.rawValue) refuses it")
            }
        }
        return DenialReasons(container: container, hint: hint, fallback: fallback, syscalls: reasons)
    }

    /// `cap` is missing: which setting left it out, and where that setting is.
    func capabilityReason(_ name: String, _ cap: String, ruleIndex: Int, refusing: Bool) -> DenialReasons.Reason {
        let short = cap.hasPrefix("CAP_") ? String(cap.dropFirst(4)) : cap
        let drops = Set(capDrop.map { $0.uppercased().hasPrefix("CAP_") ? String($0.uppercased().dropFirst(4)) : $0.uppercased() })
        let inDefaults = defaults.contains { $0.uppercased() == short || $0.uppercased() == cap }
        let setting: String
        let origin: String
        let why: String
        if drops.contains(short) || drops.contains("ALL") {
            setting = "--cap-drop"
            origin = "HostConfig.CapDrop"
            why = "--cap-drop \(drops.contains(short) ? short : "ALL") removed it"
        } else if !inDefaults {
            setting = "default_capabilities"
            switch defaultsOrigin {
            case .file(let path, let line)?: origin = "\(path):\(line)"
            case let other?: origin = "\(other)"
            case nil: origin = "builtin"
            }
            why = "default_capabilities at \(origin) leaves it out"
        } else {
            setting = "capabilities"
            origin = "the container's capabilities"
            why = "the container was not given it"
        }
        let rule = refusing ? "rule \(ruleIndex) of \(profileName) refuses \(name) without it"
                            : "rule \(ruleIndex) of \(profileName) allows \(name) only with it"
        return DenialReasons.Reason(kind: .capability, capability: cap, setting: setting, origin: origin,
                                    text: "the container lacks \(cap): \(why) (\(rule))")
    }
}
