import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// `skiff-tls`: the TLS front end `skiff service` starts for its `tcp://` listeners. Not run by
/// hand. What the service hands it:
///   descriptor 3   a unix socket to the service: "ok\n" or one error line is written on it once
///                  the listeners serve; its end of file means the service is gone (and so this
///                  process exits);
///   descriptors 4… the listening TCP sockets (`--listeners N`), bound by the service or passed
///                  by systemd;
///   --upstream P   the service's unix socket, where each authenticated connection is forwarded;
///   --tlscacert F --tlscert F --tlskey F   mutual TLS as dockerd's `--tlsverify` does it: the
///                  client must present a certificate signed by the CA in F;
///   --insecure-plain-tcp   no TLS at all (the service asked the user to say so).
@main
enum TLSFrontend {
    static let control: CInt = 3
    static let firstListener: CInt = 4

    struct Options {
        var upstream = ""
        var listeners = 0
        var caFile: String?
        var certFile: String?
        var keyFile: String?
        var plain = false
    }

    static func main() {
        signal(SIGPIPE, SIG_IGN)
        raiseDescriptorLimit()
        let options: Options
        do {
            options = try parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            report("\(error)")
            exit(2)
        }
        do {
            try serve(options)
        } catch {
            report("\(error)")
            exit(1)
        }
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var rest = arguments[...]
        func value(_ name: String) throws -> String {
            guard let next = rest.popFirst() else { throw FrontendError("option \(name) needs a value") }
            return next
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--upstream": options.upstream = try value(argument)
            case "--listeners":
                let text = try value(argument)
                guard let count = Int(text), count >= 1 else { throw FrontendError("--listeners: '\(text)' is not a count") }
                options.listeners = count
            case "--tlscacert": options.caFile = try value(argument)
            case "--tlscert": options.certFile = try value(argument)
            case "--tlskey": options.keyFile = try value(argument)
            case "--insecure-plain-tcp": options.plain = true
            default: throw FrontendError("unknown option \(argument)")
            }
        }
        guard !options.upstream.isEmpty, options.listeners > 0 else {
            throw FrontendError("usage: skiff-tls --upstream SOCKET --listeners N (--tlscacert F --tlscert F --tlskey F | --insecure-plain-tcp)")
        }
        guard options.plain || (options.caFile != nil && options.certFile != nil && options.keyFile != nil) else {
            throw FrontendError("--tlscacert, --tlscert and --tlskey are all needed (or --insecure-plain-tcp)")
        }
        return options
    }

    /// The server context: this side's certificate and key, and client certificates required
    /// and verified against the CA (no host name check: clients are not named hosts), TLS 1.2
    /// at least, as dockerd.
    static func makeContext(_ options: Options) throws -> NIOSSLContext {
        guard let caFile = options.caFile, let certFile = options.certFile, let keyFile = options.keyFile else {
            throw FrontendError("TLS needs --tlscacert, --tlscert and --tlskey")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certFile)
        } catch {
            throw FrontendError("--tlscert \(certFile): \(error)")
        }
        guard !chain.isEmpty else { throw FrontendError("--tlscert \(certFile): no certificate in the file") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw FrontendError("--tlskey \(keyFile): \(error)")
        }
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(caFile)
        } catch {
            throw FrontendError("--tlscacert \(caFile): \(error)")
        }
        guard !roots.isEmpty else { throw FrontendError("--tlscacert \(caFile): no certificate in the file") }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.trustRoots = .certificates(roots)
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw FrontendError("TLS with --tlscert \(certFile) and --tlskey \(keyFile): \(error)")
        }
    }

    static func serve(_ options: Options) throws {
        let context = options.plain ? nil : try makeContext(options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upstream = options.upstream
        let bootstrap = ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let forward = ForwardHandler()
                    if let context {
                        try sync.addHandler(PlainHTTPRefuser())
                        try sync.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try sync.addHandler(UpstreamConnector(upstreamPath: upstream, requiresHandshake: context != nil,
                                                          forward: forward))
                    try sync.addHandler(forward)
                }
            }
        var channels: [any Channel] = []
        for index in 0..<options.listeners {
            let fd = firstListener + CInt(index)
            do {
                channels.append(try bootstrap.withBoundSocket(fd).wait())
            } catch {
                throw FrontendError("serve listening socket \(fd): \(error)")
            }
        }
        report("ok")
        // The service's end of the control socket closes when it exits, however it exits.
        var byte: UInt8 = 0
        while true {
            let n = read(control, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
        }
        for channel in channels { channel.close(promise: nil) }
        exit(0)
    }

    /// Each client holds two descriptors here (its TCP connection and the one to the service),
    /// and a client that never finishes its handshake holds one for up to 10 s: the soft limit
    /// (often 1024) is raised to the hard one.
    static func raiseDescriptorLimit() {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
    }

    /// One line to the service on the control socket (it shows errors as its own).
    static func report(_ line: String) {
        let text = line + "\n"
        _ = text.withCString { send(control, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }
}

struct FrontendError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
