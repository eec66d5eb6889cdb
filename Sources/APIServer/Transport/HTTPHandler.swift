import NIOCore
import NIOHTTP1
import NIOPosix

/// One connection's request handling: collects a request (within the route's body limit), runs
/// its handler (on the thread pool when it blocks), writes the response with Docker's headers.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: Router
    private let engine: Engine
    private let activity: ActivityMonitor
    private let pool: BlockingPool
    /// Threads for streamed responses, which may run for minutes (a pull).
    private let streams: BlockingPool
    /// The connection's timeouts (`ConnectionGuard`): told when a request begins and ends.
    private let connection: ConnectionGuard?

    private enum State {
        case idle
        case receiving(HTTPRequestHead, Target, Router.Match, body: ByteBuffer?, limit: Int, spooled: SpooledBody?)
        /// A following route's handler runs while its body arrives (`BodyFeed`).
        case feeding(HTTPRequestHead, BodyFeed)
        /// A following route's body is complete; its handler has not answered yet.
        case fed(HTTPRequestHead)
        /// A following route answered before its body's end: the rest of the body is read and
        /// dropped (a client that sends it all before it reads, as most do, then gets the answer
        /// instead of a broken pipe), and the connection closes at its end.
        case draining(closeAfter: EventLoopFuture<Void>?)
        /// The request was refused before its end; its remaining parts are ignored.
        case ignoringRest
        case responding
        /// The connection was handed to a hijack session; HTTP parts still queued are ignored.
        case hijacked
    }

    /// The request target split once: path and query string.
    private struct Target {
        var path: Substring
        var query: Substring

        init(_ uri: String) {
            // Looked for as a byte: a search by characters costs more than the route lookup.
            if let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
                path = uri[..<mark]
                query = uri[uri.utf8.index(after: mark)...]
            } else {
                path = uri[...]
                query = ""
            }
        }
    }

    private var state = State.idle
    /// Whether this connection currently counts as activity for the idle timer.
    private var counted = false
    /// The `InputEndGate` holds back the end of input for this request (a hijacking route):
    /// only then is there something to release when it is answered.
    private var holdsInputEnd = false

    init(router: Router, engine: Engine, activity: ActivityMonitor, pool: BlockingPool, streams: BlockingPool,
         connection: ConnectionGuard? = nil) {
        self.connection = connection
        self.router = router
        self.engine = engine
        self.activity = activity
        self.pool = pool
        self.streams = streams
    }

    func channelActive(context: ChannelHandlerContext) {
        beginActivity()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .feeding(_, let feed):
            // The client went before the body's end (NIO's protocol error handler may have
            // answered the cut-short request already): the handler's answer is not written.
            feed.abort()
            state = .ignoringRest
        case .fed:
            state = .ignoringRest
        default:
            break
        }
        endActivity()
        context.fireChannelInactive()
    }

    /// A request that does not parse: `HTTPServerProtocolErrorHandler`, before this handler, has
    /// written and flushed its 400 with `Connection: close`; the connection is closed here (NIO
    /// leaves that to the rest of the pipeline, and it stayed open until the client went).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .hijacked = state { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            beginActivity()
            connection?.requestStarted()
            let target = Target(head.uri)
            let match = router.match(method: head.method.rawValue, path: target.path)
            var limit = Router.defaultMaxBody
            var spooled: SpooledBody?
            if case .found(let route, _, _) = match {
                limit = route.maxBody
                if route.hijacks {
                    (try? context.pipeline.syncOperations.handler(type: InputEndGate.self))?.hold()
                    holdsInputEnd = true
                }
                if route.spool {
                    do {
                        spooled = try engine.spoolFile()
                    } catch {
                        state = .ignoringRest
                        write(context: context, head: head, response: .error(APIError.from(error)), keepAlive: false)
                        return
                    }
                }
            }
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                refuseBody(context: context, head: head, limit: limit)
                return
            }
            if head.version.major == 1 && head.version.minor >= 1, let expectation = head.headers.first(name: "expect") {
                // Go's server: "100-continue" is answered when the body is wanted (curl waits a
                // second for it before sending a large body); any other expectation is 417.
                guard expectation.lowercased() == "100-continue" else {
                    state = .ignoringRest
                    write(context: context, head: head,
                          response: .error(APIError(.expectationFailed, "unsupported Expect header: \(expectation)")),
                          keepAlive: false)
                    return
                }
                if case .found = match {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                                          promise: nil)
                }
            }
            if case .found(let route, let parameters, let version) = match, route.follows {
                startFeeding(context: context, head: head, target: target, route: route, parameters: parameters,
                             version: version)
                return
            }
            state = .receiving(head, target, match, body: nil, limit: limit, spooled: spooled)
        case .body(var chunk):
            if case .feeding(_, let feed) = state {
                if feed.push(chunk) { try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false) }
                return
            }
            guard case .receiving(let head, let target, let match, var body, let limit, let spooled) = state else { return }
            if let spooled {
                do {
                    try chunk.withUnsafeReadableBytes { try spooled.append($0) }
                } catch {
                    state = .ignoringRest
                    write(context: context, head: head, response: .error(APIError.from(error)), keepAlive: false)
                }
                return
            }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > limit {
                refuseBody(context: context, head: head, limit: limit)
                return
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
            state = .receiving(head, target, match, body: body, limit: limit, spooled: nil)
        case .end:
            if case .draining(let written) = state {
                state = .idle
                if let written {
                    written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                } else {
                    context.close(promise: nil)
                }
                return
            }
            if case .feeding(let head, let feed) = state {
                feed.finish()
                state = .fed(head)
                return
            }
            guard case .receiving(let head, let target, let match, let body, _, let spooled) = state else {
                if case .ignoringRest = state { state = .idle }
                return
            }
            state = .responding
            dispatch(context: context, head: head, target: target, match: match, body: body, spooled: spooled)
        }
    }

    /// Runs a following route's handler now, on the pool for long waits, with the body to come
    /// in a `BodyFeed`. Its answer is written when the body is complete; an answer before that (a
    /// failure) is written at once, and the connection closes after it.
    private func startFeeding(context: ChannelHandlerContext, head: HTTPRequestHead, target: Target, route: Route,
                              parameters: [String: String], version: APIVersion) {
        let channel = context.channel
        let feed = BodyFeed(resume: {
            channel.eventLoop.execute { _ = channel.setOption(ChannelOptions.autoRead, value: true) }
        })
        var request = Request(method: head.method.rawValue, path: String(target.path), version: version,
                              query: Router.parseQuery(target.query), headers: head.headers.map { ($0.name, $0.value) },
                              body: [], parameters: parameters)
        request.feed = feed
        state = .feeding(head, feed)
        let engine = self.engine
        let handed = request
        engine.longPool.run(on: context.eventLoop) {
            HTTPHandler.run(route, handed, engine)
        }.assumeIsolated().whenComplete { result in
            let response = (try? result.get()) ?? .error(APIError(.serviceUnavailable, "the service is shutting down"))
            guard context.channel.isActive else { return }
            switch self.state {
            case .feeding(let head, let feed):
                feed.discard()
                self.state = .draining(closeAfter: nil)
                self.write(context: context, head: head, response: response, keepAlive: false)
            case .fed(let head):
                self.state = .responding
                self.write(context: context, head: head, response: response, keepAlive: head.isKeepAlive)
            default:
                break
            }
        }
    }

    private func refuseBody(context: ChannelHandlerContext, head: HTTPRequestHead, limit: Int) {
        state = .ignoringRest
        let error = APIError(.payloadTooLarge, "request body is larger than the limit of \(limit) bytes")
        write(context: context, head: head, response: .error(error), keepAlive: false)
    }

    private func dispatch(context: ChannelHandlerContext, head: HTTPRequestHead, target: Target,
                          match: Router.Match, body: ByteBuffer?, spooled: SpooledBody?) {
        let keepAlive = head.isKeepAlive
        switch match {
        case .notFound:
            write(context: context, head: head, response: .error(APIError(.notFound, "page not found")),
                  keepAlive: keepAlive)
        case .methodNotAllowed:
            write(context: context, head: head,
                  response: .error(APIError(.methodNotAllowed, "method \(head.method.rawValue) not allowed")),
                  keepAlive: keepAlive)
        case .badVersion(let error):
            write(context: context, head: head, response: .error(error), keepAlive: keepAlive)
        case .found(let route, let parameters, let version):
            let request = Request(method: head.method.rawValue, path: String(target.path), version: version,
                                  query: Router.parseQuery(target.query),
                                  headers: head.headers.map { ($0.name, $0.value) },
                                  body: body.map { Array($0.readableBytesView) } ?? [],
                                  parameters: parameters, spooled: spooled)
            let engine = self.engine
            if route.blocking, let quick = route.quick, let response = HTTPHandler.runQuick(quick, request, engine) {
                write(context: context, head: head, response: response, keepAlive: keepAlive)
            } else if route.blocking {
                (route.long ? engine.longPool : pool).run(on: context.eventLoop) {
                    HTTPHandler.run(route, request, engine)
                }.assumeIsolated().whenComplete { result in
                    let response = (try? result.get())
                        ?? .error(APIError(.serviceUnavailable, "the service is shutting down"))
                    self.write(context: context, head: head, response: response, keepAlive: keepAlive)
                }
            } else {
                write(context: context, head: head, response: HTTPHandler.run(route, request, engine),
                      keepAlive: keepAlive)
            }
        }
    }

    private static func run(_ route: Route, _ request: Request, _ engine: Engine) -> Response {
        do {
            return try route.handler(request, engine)
        } catch {
            return .error(APIError.from(error))
        }
    }

    /// The route's quick answer; nil when it has none now (the handler runs on the pool).
    private static func runQuick(_ quick: Route.QuickHandler, _ request: Request, _ engine: Engine) -> Response? {
        do {
            return try quick(request, engine)
        } catch {
            return .error(APIError.from(error))
        }
    }

    private static func responseHead(_ request: HTTPRequestHead, _ response: Response, keepAlive: Bool,
                                      streamed: Bool) -> HTTPResponseHead {
        var headers = HTTPHandler.dockerHeaders
        headers.reserveCapacity(response.headers.count + 6)
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if !streamed { headers.add(name: "Content-Length", value: String(response.body.count)) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status.code, reasonPhrase: response.status.reason)
        return HTTPResponseHead(version: request.version, status: status, headers: headers)
    }

    /// Runs a streamed response on a stream thread. A stream that fails before sending anything
    /// is answered as an error; one that fails later ends the connection without the final
    /// chunk, so the client sees the body was cut short.
    private func stream(context: ChannelHandlerContext, head request: HTTPRequestHead, response: Response,
                        keepAlive: Bool) {
        let writer = ResponseWriter(channel: context.channel,
                                    head: HTTPHandler.responseHead(request, response, keepAlive: keepAlive, streamed: true),
                                    isHead: request.method == .HEAD)
        if let poll = response.poll {
            step(context: context, head: request, poll: poll, writer: writer, keepAlive: keepAlive)
            return
        }
        guard let body = response.stream else { return }
        (response.longRunning ? engine.longPool : streams).run(on: context.eventLoop) {
            try body(writer)
        }.assumeIsolated().whenComplete { result in
            self.streamEnded(context: context, head: request, writer: writer, result: result, keepAlive: keepAlive)
        }
    }

    /// Runs one step of a polled response, and schedules the next.
    private func step(context: ChannelHandlerContext, head request: HTTPRequestHead, poll: Poll, writer: ResponseWriter,
                      keepAlive: Bool) {
        streams.run(on: context.eventLoop) {
            try poll.step(writer)
        }.assumeIsolated().whenComplete { result in
            guard case .success(true) = result else {
                self.streamEnded(context: context, head: request, writer: writer, result: result.map { _ in () },
                                 keepAlive: keepAlive)
                return
            }
            guard context.channel.isActive else {
                self.finishResponse(context: context, done: nil, keepAlive: false)
                return
            }
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(poll.milliseconds)) {
                self.step(context: context, head: request, poll: poll, writer: writer, keepAlive: keepAlive)
            }
        }
    }

    private func streamEnded(context: ChannelHandlerContext, head request: HTTPRequestHead, writer: ResponseWriter,
                             result: Result<Void, any Error>, keepAlive: Bool) {
        switch result {
        case .success:
            writer.commit()
            let done = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
            self.finishResponse(context: context, done: done, keepAlive: keepAlive)
        case .failure(let error):
            if writer.committed {
                self.finishResponse(context: context, done: nil, keepAlive: false)
            } else {
                self.write(context: context, head: request, response: .error(APIError.from(error)),
                           keepAlive: keepAlive)
            }
        }
    }

    private func finishResponse(context: ChannelHandlerContext, done: EventLoopFuture<Void>?, keepAlive: Bool) {
        if case .responding = state { state = .idle }
        if holdsInputEnd {
            holdsInputEnd = false
            (try? context.pipeline.syncOperations.handler(type: InputEndGate.self))?.release()
        }
        endActivity()
        if keepAlive { connection?.responseEnded() }
        if case .draining = state {
            // Closed when the request's body has ended.
            state = .draining(closeAfter: done)
            return
        }
        if !keepAlive {
            if let done {
                done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }

    private func write(context: ChannelHandlerContext, head request: HTTPRequestHead, response: Response,
                       keepAlive: Bool) {
        if let hijack = response.hijack {
            // The raw connection's handler takes over this connection's count of activity.
            state = .hijacked
            connection?.streamStarted()
            beginActivity()
            counted = false
            switchToRaw(context: context, request: HTTPRequestHeadInfo(upgrade: request.headers.contains(name: "upgrade")),
                        hijack: hijack, activity: activity, pool: streams)
            return
        }
        if response.stream != nil || response.poll != nil {
            if response.poll != nil || response.longRunning { connection?.streamStarted() }
            stream(context: context, head: request, response: response, keepAlive: keepAlive)
            return
        }
        context.write(wrapOutboundOut(.head(HTTPHandler.responseHead(request, response, keepAlive: keepAlive,
                                                                     streamed: false))), promise: nil)
        if request.method != .HEAD && !response.body.isEmpty {
            let buffer = context.channel.allocator.buffer(bytes: response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        if keepAlive {
            // Nothing waits for this write: no future is made for it.
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            finishResponse(context: context, done: nil, keepAlive: true)
        } else {
            finishResponse(context: context, done: context.writeAndFlush(wrapOutboundOut(.end(nil))), keepAlive: false)
        }
    }

    static let serverHeader = "\(Engine.name)/\(Engine.version) (linux)"
    static let apiVersionHeader = APIVersion.current.description
    /// The headers Docker sends with every response, made once (each response copies them).
    static let dockerHeaders = HTTPHeaders([("Api-Version", apiVersionHeader), ("Docker-Experimental", "false"),
                                            ("Ostype", "linux"), ("Server", serverHeader)])

    private func beginActivity() {
        guard !counted else { return }
        counted = true
        activity.begin()
    }

    private func endActivity() {
        guard counted else { return }
        counted = false
        activity.end()
    }
}
