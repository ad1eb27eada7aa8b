import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// The per-request context: Hummingbird's core storage plus the request id and the peer address.
public struct AppRequestContext: RequestContext, WebSocketRequestContext {
    /// Hummingbird's own per-request values (logger, parameters, endpoint path).
    public var coreContext: CoreRequestContextStorage
    /// The request id: the client's `X-Request-ID` when it sent a usable one, else a new one.
    ///
    /// Use this, never Hummingbird's `context.id`: `RequestIDMiddleware` removes Hummingbird's `hb.request.id` from
    /// the logger so each log line carries one id, and `context.id` force-unwraps that metadata.
    public var requestID: String = ""
    /// The peer's socket address, for rate limits and logs.
    public let remoteAddress: SocketAddress?
    /// The connection the request came on: `/ws` writes its frames to it directly (``ChatSocketOutbox``).
    public let channel: any Channel
    /// Where the `/ws` route leaves its handler for the upgrade (hummingbird-websocket).
    public let webSocket = WebSocketHandlerReference<AppRequestContext>()

    /// Makes a context for a request arriving on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}
