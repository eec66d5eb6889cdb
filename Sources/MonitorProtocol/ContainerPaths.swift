/// The files of one container that the service, the monitor and skiff-relay share
/// (docs/containers.md): the bundle with the log, and the run directory with the attach and
/// control sockets and the exit file. skiff-relay's names are in
/// `Sources/CRelay/include/skiff_protocol.h`; a test pins the two together.
public struct ContainerPaths: Sendable, Equatable {
    /// Names inside the run directory and the bundle.
    public static let attachName = "attach"
    public static let controlName = "ctl"
    public static let exitName = "exit"
    /// Written first, then renamed over `exit`.
    public static let exitTemporaryName = "exit.tmp"
    public static let logName = "ctr.log"
    /// The monitor's own diagnostics (its standard error), beside the log.
    public static let diagnosticsName = "monitor.log"

    public let id: String
    /// `<skiff root>/containers/<id>`: the OCI bundle, the overlay dirs, the log.
    public let bundle: String
    /// `<run>/containers/<id>`: the monitor's sockets and the exit file.
    public let run: String
    /// `<run>/runtime`: the runtime's state root.
    public let runtimeRoot: String

    public init(id: String, bundle: String, run: String, runtimeRoot: String) {
        self.id = id
        self.bundle = bundle
        self.run = run
        self.runtimeRoot = runtimeRoot
    }

    /// The layout under the service's two roots: `<skiffRoot>/containers/<id>` and
    /// `<runtimeDirectory>/containers/<id>`, `<runtimeDirectory>/runtime`.
    public init(skiffRoot: String, runtimeDirectory: String, id: String) {
        self.init(id: id, bundle: skiffRoot + "/containers/" + id, run: runtimeDirectory + "/containers/" + id,
                  runtimeRoot: runtimeDirectory + "/runtime")
    }

    public var log: String { ContainerPaths.log(bundle: bundle) }
    public var diagnostics: String { bundle + "/" + ContainerPaths.diagnosticsName }
    public var exitFile: String { ContainerPaths.exitFile(run: run) }
    public var attachSocket: String { run + "/" + ContainerPaths.attachName }
    public var controlSocket: String { run + "/" + ContainerPaths.controlName }

    /// The log file of the container whose bundle is `bundle`.
    public static func log(bundle: String) -> String { bundle + "/" + logName }
    /// The exit file in the run directory `run`.
    public static func exitFile(run: String) -> String { run + "/" + exitName }
}

extension ContainerPaths {
    /// Explained denials (docs/denials.md): the records (`SKIFF_RUN_DENIALS`), the relay's
    /// table of reasons, the original seccomp program; all in the run directory.
    public var denialRecords: String { run + "/" + DenialRecord.fileName }
    public var denialReasonsTable: String { run + "/denial-reasons" }
    public var seccompProgram: String { run + "/seccomp-filter.bpf" }
    /// The healthcheck probes' exec ids (their first `DenialRecord.execIDLength` characters)
    /// that have records, one a line: `skiff explain` says `healthcheck` for them. A probe adds
    /// its id only when it has records, so the file is bounded as the records are.
    public var denialProbes: String { run + "/denials.probes" }
    /// The service's reasons, beside config.json.
    public var denialReasons: String { bundle + "/" + DenialReasons.fileName }
}
