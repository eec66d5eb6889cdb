// swift-tools-version:6.0
// Skiff: a daemonless, rootless container engine serving the Docker Engine API.
import PackageDescription

let package = Package(
    name: "skiff",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "skiff", targets: ["skiff"]),
        .executable(name: "skiff-runtime", targets: ["skiff-runtime"]),
        .executable(name: "skiff-image", targets: ["skiff-image"]),
        .executable(name: "skiff-monitor", targets: ["skiff-monitor"]),
        .executable(name: "skiff-relay", targets: ["skiff-relay"]),
        .executable(name: "skiff-tls", targets: ["skiff-tls"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // libsqlite3 from Debian's libsqlite3-dev, plus a header shim for what Swift cannot import.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        // glibc calls Swift's Glibc module does not export (malloc_trim), and libcrypto's SHA-256
        // loaded on first use (dlopen: the service does not map libcrypto at start-up).
        .target(name: "CLinux", dependencies: ["CSyscall"], linkerSettings: [.linkedLibrary("dl")]),
        // SKIFF_RETRY: the C targets' one EINTR retry (Platform's Syscall on the Swift side).
        // Header only.
        .target(name: "CSyscall"),
        // File operations every module shares (read, mkdir -p, atomic write), without Foundation.
        .target(name: "Platform"),
        // containers.conf / storage.conf: our own TOML reader (keeps file:line for every value).
        .target(name: "Config", dependencies: ["Platform"]),
        // SQLite state and (later) blobs, layers and image formats.
        .target(name: "Store", dependencies: ["CSQLite", "Platform"]),
        // libseccomp, libcap, libselinux from Debian's -dev packages.
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", path: "Sources/CCap", pkgConfig: "libcap",
                       providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CSELinux", path: "Sources/CSELinux", pkgConfig: "libselinux",
                       providers: [.apt(["libselinux1-dev"])]),
        // The OCI runtime spec (config.json) with its reader and writer, and seccomp profiles
        // (parsing, rule selection): what the service writes and the runtime reads. Pure Swift,
        // no Foundation (the static skiff-monitor links it through Runtime).
        .target(name: "OCI", dependencies: ["Platform", "UserNamespace"]),
        // A descriptor over a unix socket (SCM_RIGHTS), in C: the runtime and skiff-relay send
        // and receive with the same code.
        .target(name: "CFDPass", dependencies: ["CSyscall"]),
        // The child side of container creation, clone to execve, in C.
        .target(name: "CRuntime", dependencies: ["CFDPass", "CSyscall"]),
        // User namespaces: subordinate ids (/etc/subuid, /etc/subgid) and id-map writing (direct,
        // or through newuidmap/newgidmap), for the runtime and the image worker alike.
        .target(name: "UserNamespace", dependencies: ["Platform"]),
        // OCI runtime: namespaces, id maps, mounts, capabilities, seccomp, SELinux.
        .target(name: "Runtime", dependencies: ["CRuntime", "CLinux", "CSeccomp", "CCap", "CSELinux", "OCI", "Platform", "UserNamespace"]),
        // zlib from Debian's zlib1g-dev (gzip layers).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libzstd from Debian's libzstd-dev (zstd layers).
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Images: references, digests, layer tar archives and their safe unpacking.
        .target(name: "Images", dependencies: ["Store", "Config", "Platform", "CZlib", "CZstd", "CLinux"]),
        // OpenSSL from Debian's libssl-dev: TLS for registry connections.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        // The OCI distribution protocol: a blocking HTTP/1.1 client (TLS by OpenSSL), registry
        // auth (bearer tokens, basic), credentials from X-Registry-Auth and auth.json.
        .target(name: "Distribution", dependencies: ["Images", "Platform", "COpenSSL"]),
        // Container log files (the k8s-file layout conmon writes): the monitor appends, `logs`
        // reads with since/until/tail and follows; Docker's stream framing.
        .target(name: "ContainerLogs", dependencies: ["Platform"]),
        // Everything the service, the monitor and skiff-relay say to one another: the sync
        // socket's messages (typed, one channel per end), the attach mask, control commands, the
        // exit file, the run directory's layout. Pure Swift (the static monitor links it).
        .target(name: "MonitorProtocol", dependencies: ["Platform"]),
        // The relay loop (output to the log and attach clients, stdin, resize, reaping) in C:
        // skiff-relay runs it, and the monitor for the runs it relays itself. Its header
        // skiff_protocol.h names the run directory and the exit file as MonitorProtocol does.
        .target(name: "CRelay", dependencies: ["CSyscall", "CFDPass"]),
        // The Dockerfile language of the classic builder: parsing, word expansion, .dockerignore
        // patterns. Pure Swift, no I/O.
        .target(name: "Dockerfile"),
        // The HTTP service: route table, Docker wire types, idle shutdown.
        .target(name: "APIServer", dependencies: [
            "Dockerfile", "Config", "Store", "Images", "CLinux", "CRuntime", "OCI", "Platform", "ContainerLogs", "MonitorProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .executableTarget(name: "skiff", dependencies: ["APIServer", "Config", "Platform"]),
        // The OCI runtime command line (`skiff runtime ...` execs it): kept out of `skiff` so
        // the service does not load libseccomp, libcap and libselinux.
        .executableTarget(name: "skiff-runtime", dependencies: ["Runtime", "OCI", "Platform"]),
        // The image worker the service spawns for pull, push, load, import, save and layer
        // removal: it enters the user's namespace (rootless) so layers keep their owners.
        .executableTarget(name: "skiff-image", dependencies: ["Images", "Distribution", "UserNamespace", "Store", "Config", "Platform", "CLinux"]),
        // The TLS front end of `skiff service -H tcp://...`: terminates TLS (mutual, BoringSSL
        // through NIOSSL) on the TCP listeners the service hands it and forwards each connection,
        // byte for byte, to the service's unix socket. A process of its own so that the service
        // (and its unix-socket path) never maps BoringSSL: see docs/decisions.md.
        .executableTarget(name: "skiff-tls", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The per-container supervisor (conmon's role): creates the container in-process, relays
        // its output and stdin, records its exit, restarts or removes it. No NIO, no Foundation:
        // one copy runs per container.
        .target(name: "Monitor", dependencies: ["Runtime", "Store", "ContainerLogs", "Platform", "CLinux",
                                               "MonitorProtocol", "CRelay", "CRuntime"]),
        // Linked as a static executable: no dynamic loader at its start (1.0 ms from exec to
        // main, against 3.5 ms with Swift's shared runtime and the libraries: a container start
        // waits for it, and an exit too when it comes back from skiff-relay), and no relocations
        // to dirty in every copy. Its getpwuid (the /etc/subuid owner) loads glibc's NSS
        // modules at run time, from the same glibc it is built against here.
        .executableTarget(name: "skiff-monitor", dependencies: ["Monitor", "MonitorProtocol", "CLinux", "Platform"],
                          linkerSettings: [.unsafeFlags(["-static-executable"])]),
        .executableTarget(name: "skiff-relay", dependencies: ["CRelay", "CFDPass"], linkerSettings: [.unsafeFlags(["-static-executable"])]),
        // Test helper: a separate process that writes to a Store (two-writer test).
        .executableTarget(name: "StoreWriter", dependencies: ["Store"], path: "Tests/StoreWriter"),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "StoreWriter"]),
        .testTarget(name: "OCITests", dependencies: ["OCI", "Platform"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "OCI", "CLinux", "Platform"]),
        .testTarget(name: "UserNamespaceTests", dependencies: ["UserNamespace"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "Config", "Platform", "Store", "CLinux", "CZlib", "CZstd"]),
        .testTarget(name: "DistributionTests", dependencies: ["Distribution", "Images", "Platform", "Store", "COpenSSL"]),
        .testTarget(name: "ContainerLogsTests", dependencies: ["ContainerLogs", "Platform"]),
        .testTarget(name: "MonitorTests", dependencies: ["Monitor"]),
        .testTarget(name: "DockerfileTests", dependencies: ["Dockerfile"]),
        .testTarget(name: "MonitorProtocolTests", dependencies: ["MonitorProtocol", "CRelay", "Platform"]),
        .testTarget(name: "APIServerTests", dependencies: [
            "APIServer",
            "MonitorProtocol",
            "CLinux",
            "Config",
            "Images",
            "OCI",
            "Platform",
            "Store",
            .product(name: "Yams", package: "Yams"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ]
)
