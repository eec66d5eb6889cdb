import CLinux
import Images
import Platform
import UserNamespace
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-image COMMAND --root DIR [--userns] [OPTIONS]`: the image worker `skiff service`
/// spawns for everything that writes layers (they must be written inside the user's namespace
/// so files keep the owners the image gives them) or talks to registries.
///
/// Standard input is the request body (a file) where there is one; standard output is what the
/// API streams to the client (newline-delimited JSON progress, or a tar archive); a failure is
/// reported as one JSON object `{"status": N, "message": "..."}` on file descriptor 3 (standard
/// error when 3 is not open) and exit status 1.
@main
enum SkiffImage {
    static let usage = """
        Usage: skiff-image COMMAND --root DIR [--userns] [OPTIONS]
          load   [--quiet]                             docker load of the archive on stdin
          import [--tag NAME] [--message TEXT] [--change LINE]...
                                                      docker import of the rootfs tar on stdin
          pull   --reference REF [--insecure] [--cert-dir DIR] [--timeout SECONDS]
          login  --server HOST [--insecure] [--cert-dir DIR] [--timeout SECONDS]
                                                      docker login: the credentials in $SKIFF_REGISTRY_AUTH (Login.swift)
          search --registry DOMAIN --term TERM --limit N [--insecure] [--cert-dir DIR] [--timeout SECONDS]
                                                      one registry's part of GET /images/search (Search.swift)
          distribution-inspect --reference REF [--insecure] [--cert-dir DIR] [--timeout SECONDS]
                                                      the registry's descriptor and platforms of REF
          push   --image ID --reference REF [--insecure] [--cert-dir DIR] [--timeout SECONDS]
          sweep                                       remove layers and blobs nothing uses
          remove-container ID                         remove <root>/containers/ID (its upper/ holds
                                                      files of sub-ids: run it with --userns rootless)
          archive-stat|archive-get|archive-put|export --container ID [--root-fd 4] [--userns-fd 5] [--path P]
                       [--no-overwrite-dir-non-dir] [--chown-user USER]
                                                      docker cp and export (ContainerArchive.swift)
          volume-populate --container ID --path P --volume NAME
                                                      copy the image's content at P into a new volume
          remove-volume NAME                          remove <root>/volumes/NAME (VolumeFiles.swift)
          changes --container ID                      docker diff (ContainerChanges.swift)
          commit  --container ID --image ID --container-config JSON [--tag NAME] [--author A]
                  [--message M] [--created-by TEXT] [--change LINE]...
                                                      docker commit (ContainerCommit.swift)
          build-step [--image ID] [--container ID | --layer-stdin] --config JSON --created-by TEXT
                  [--comment TEXT] [--tag NAME]...    one step of docker build (BuildStep.swift)
        Every command takes --max-layer-size BYTES (default 32 GiB): the most a layer may expand to.
        Registry credentials come from $SKIFF_REGISTRY_AUTH (Docker's X-Registry-Auth) or the
        user's auth.json.
        """

    static func main() {
        FileLimit.restoreInherited()
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            let options = try Options(arguments)
            if let fd = options.value("--userns-fd") {
                try WorkerNamespace.join(fd)
            } else if options.flag("--userns") {
                try WorkerNamespace.enterIfNeeded()
            }
            if options.command == "remove-container" {
                try ContainerRemoval.remove(options)
                return
            }
            if VolumeFiles.commands.contains(options.command) {
                try VolumeFiles.run(options)
                return
            }
            if ContainerArchive.commands.contains(options.command) {
                try ContainerArchive.run(options)
                return
            }
            let worker = try Worker(options: options)
            switch options.command {
            case "load": try worker.load()
            case "import": try worker.importRootfs()
            case "pull": try worker.pull()
            case "distribution-inspect": try worker.distributionInspect()
            case "login": try worker.login()
            case "search": try worker.search()
            case "push": try worker.push()
            case "sweep": try worker.sweep()
            case "commit": try ContainerCommit.run(worker)
            case "build-step": try BuildStep.run(worker)
            default: throw WorkerFailure(.invalidArgument, "skiff-image: unknown command '\(options.command)'\n\(usage)")
            }
        } catch {
            report(WorkerFailure.from(error))
            exit(1)
        }
    }

    /// Writes the failure where the service reads it.
    static func report(_ error: WorkerFailure) {
        let text = error.json.text + "\n"
        let fd: Int32 = fcntl(3, F_GETFD) >= 0 ? 3 : 2
        Output.writeAll(fd, Array(text.utf8))
    }
}

/// Every failure reaches the service as a `WorkerFailure` (Images): the worker's own, the
/// Store's and the registry's mapped to its kinds.
extension WorkerFailure {
    static func from(_ error: any Error) -> WorkerFailure {
        switch error {
        case let error as WorkerFailure:
            return error
        case let error as ImageError:
            switch error.code {
            case .notFound: return WorkerFailure(.notFound, error.message)
            case .invalidArgument: return WorkerFailure(.invalidArgument, error.message)
            case .invalidState: return WorkerFailure(.conflict, error.message)
            case .corrupt, .io: return WorkerFailure(.failed, error.message)
            }
        case let error as StoreError:
            switch error.code {
            case .notFound: return WorkerFailure(.notFound, error.message)
            case .invalidArgument: return WorkerFailure(.invalidArgument, error.message)
            case .exists, .invalidState: return WorkerFailure(.conflict, error.message)
            case .busy: return WorkerFailure(.unavailable, error.message)
            case .corrupt, .io: return WorkerFailure(.failed, error.message)
            }
        default:
            return RegistryErrors.map(error) ?? WorkerFailure(.failed, "\(error)")
        }
    }
}

/// `COMMAND --name value --flag ...`; a name may repeat.
struct Options {
    var command: String
    var values: [(String, String)] = []
    var flags: Set<String> = []
    /// Arguments that are not options (only `remove-container` takes one).
    var positional: [String] = []

    static let booleans: Set<String> = ["--userns", "--quiet", "--insecure", "--no-overwrite-dir-non-dir", "--layer-stdin", "--make-path"]

    init(_ arguments: [String]) throws {
        guard let first = arguments.first else { throw WorkerFailure(.invalidArgument, SkiffImage.usage) }
        command = first
        var i = 1
        while i < arguments.count {
            let name = arguments[i]
            guard name.hasPrefix("--") else {
                guard first == "remove-container" || first == "remove-volume" else { throw WorkerFailure(.invalidArgument, "skiff-image: unexpected argument '\(name)'") }
                positional.append(name)
                i += 1
                continue
            }
            if Options.booleans.contains(name) {
                flags.insert(name)
                i += 1
            } else {
                guard i + 1 < arguments.count else { throw WorkerFailure(.invalidArgument, "skiff-image: \(name) needs a value") }
                values.append((name, arguments[i + 1]))
                i += 2
            }
        }
    }

    func value(_ name: String) -> String? { values.last { $0.0 == name }?.1 }
    func all(_ name: String) -> [String] { values.filter { $0.0 == name }.map(\.1) }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    func required(_ name: String) throws -> String {
        guard let value = value(name), !value.isEmpty else { throw WorkerFailure(.invalidArgument, "skiff-image: \(name) is required") }
        return value
    }
}

/// Standard output: newline-delimited JSON messages, or raw bytes.
enum Output {
    static func message(_ value: JSON) {
        var bytes = value.bytes
        bytes.append(0x0A)
        writeAll(1, bytes)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Syscall.retrying { write(fd, raw.baseAddress! + offset, raw.count - offset) }
                guard n > 0 else { return }
                offset += n
            }
        }
    }
}

/// Re-runs this program inside a new user namespace with the user's /etc/subuid and
/// /etc/subgid ranges (0 = the user, 1... = the subordinate ids), as Podman's rootless mode
/// does; without ranges, with the single map 0 = the user (files the image gives to other
/// owners then stay the user's). Root needs no namespace.
enum WorkerNamespace {
    static let variable = "SKIFF_IMAGE_USERNS"

    /// Whether this process runs in a namespace with only the user's own id mapped.
    static var isSingleMapping: Bool {
        getenv(variable).map { String(cString: $0) } == "single"
    }

    /// Joins the running container's user namespace open at descriptor `text` (`--userns-fd`)
    /// instead of making one: the archive verbs on a running container.
    static func join(_ text: String) throws {
        guard let fd = Int32(text), fd > 2 else { throw WorkerFailure(.invalidArgument, "skiff-image: bad --userns-fd \(text)") }
        guard skiff_join_userns(fd) == 0 else {
            throw WorkerFailure(.failed, "join the container's user namespace: \(String(cString: strerror(errno)))")
        }
        close(fd)
        setenv(variable, "joined", 1)
    }

    static func enterIfNeeded() throws {
        guard getuid() != 0, getenv(variable) == nil else { return }
        let uid = getuid(), gid = getgid()
        let name = getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? String(uid)
        func ranges(_ file: String) -> SubordinateIDs {
            let text = (try? FileSystem.readFile(file)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            return SubordinateIDs.parse(text, user: name, id: uid)
        }
        let subuid = ranges("/etc/subuid"), subgid = ranges("/etc/subgid")
        let full = !subuid.ranges.isEmpty && !subgid.ranges.isEmpty
        let uidMap = full ? subuid.mappings(hostID: uid) : [IDMapping(containerID: 0, hostID: uid, size: 1)]
        let gidMap = full ? subgid.mappings(hostID: gid) : [IDMapping(containerID: 0, hostID: gid, size: 1)]

        var ready: [Int32] = [-1, -1], go: [Int32] = [-1, -1]
        guard skiff_pipe2(&ready, O_CLOEXEC) == 0, skiff_pipe2(&go, O_CLOEXEC) == 0 else {
            throw WorkerFailure(.failed, "user namespace: pipe: \(String(cString: strerror(errno)))")
        }
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        guard n > 0 else { throw WorkerFailure(.failed, "user namespace: readlink /proc/self/exe failed") }
        var environment: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            environment.append(String(cString: pointer))
            entry += 1
        }
        environment.append("\(variable)=\(full ? "full" : "single")")
        let argv = CommandLine.arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        let parentEnds: [Int32] = [ready[0], go[1]]
        // The child unshares and then waits for the maps; fds 0-3 stay as they are.
        let pid = skiff_userns_exec(exe, argv, envp, ready[1], go[0], parentEnds)
        close(ready[1])
        close(go[0])
        guard pid > 0 else { throw WorkerFailure(.failed, "user namespace: fork: \(String(cString: strerror(-pid)))") }
        var ok: UInt8 = 0
        let got = read(ready[0], &ok, 1)
        close(ready[0])
        do {
            guard got == 1, ok == 1 else {
                throw WorkerFailure(.failed, "cannot create a user namespace: unshare(CLONE_NEWUSER) failed "
                    + "(is kernel.unprivileged_userns_clone or user.max_user_namespaces 0?)")
            }
            try IDMapWriter.write(pid: pid, uid: uidMap, gid: gidMap, id: "image worker")
        } catch {
            close(go[1])
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw WorkerFailure(.failed, "\(error)")
        }
        var one: UInt8 = 1
        _ = write(go[1], &one, 1)
        close(go[1])
        var status: Int32 = 0
        _ = Syscall.retrying { waitpid(pid, &status, 0) }
        // The child did the work and reported any failure itself.
        if status & 0x7f == 0 { exit((status >> 8) & 0xff) }
        SkiffImage.report(WorkerFailure(.failed, "the image worker was killed by signal \(status & 0x7f)"))
        exit(1)
    }
}
