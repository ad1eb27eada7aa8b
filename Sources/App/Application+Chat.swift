import ConfigurationFile
import Core
import Foundation
import Hummingbird
import Logging
import Storage

/// Step 2b of the composition root: chat. Its store over the same SQLite file as the webhooks, the hub that the
/// store publishes committed events to, the token service, and the controllers and socket session.
struct Chat {
    let store: any ChatStore
    let hub: ChatHub
    let tokens: TokenService
    let authenticator: ChatAuthenticator
    let settings: ChatSettings
    let auth: AuthSettings
    let loginLimits: LoginLimits
    let hasher: PasswordHasher
    let clock: any WallClock
    let files: AttachmentFiles

    /// The paths chat serves; no webhook route may use one.
    static let ownedPaths = [
        AuthController.mountPath, UsersController.mountPath, RoomsController.mountPath, MessagesController.mountPath,
        SearchController.mountPath, AttachmentsController.mountPath, "/ws",
    ] + ChatStatsController.ownedPaths

    init(
        configuration: MessageBridgeConfiguration, messageStore: any MessageStore, keys: APIKeyAuthenticator,
        metrics: AppMetrics, clock: any WallClock, logger: Logger, onEvents: (@Sendable () -> Void)? = nil
    ) async throws {
        guard let sqlite = messageStore as? SQLiteMessageStore else {
            throw ConfigurationError(problems: [.init(key: "sqlite", line: nil, message: "chat needs the SQLite store")])
        }
        let hub = ChatHub(metrics: metrics)
        let bus: any ChatEventBus = onEvents.map { NotifyingChatBus(hub: hub, onEvents: $0) } ?? hub
        let store = SQLiteChatStore(database: sqlite.database, bus: bus, clock: clock)
        // The default room exists before the hub loads who is where, so its membership events need no replay.
        _ = try await store.defaultRoomID()
        hub.load(memberships: try await store.memberships())
        let generated = try await store.serverSecret(named: "jwt-access-key") {
            var generator = SystemRandomNumberGenerator()
            return Data((0..<48).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
        }
        if configuration.auth.accessKey == nil {
            logger.info("chat tokens are signed with a key generated for this database; set auth.jwt_secret to choose one")
        }
        tokens = await TokenService(settings: configuration.auth, generatedSecret: generated, clock: clock)
        authenticator = ChatAuthenticator(tokens: tokens, keys: keys)
        hasher = PasswordHasher(cost: UInt8(configuration.auth.bcryptCost))
        loginLimits = try LoginLimits(settings: configuration.auth, trustedProxies: configuration.rateLimits.trustedProxies, clock: clock)
        self.store = store
        self.hub = hub
        settings = configuration.chat
        auth = configuration.auth
        self.clock = clock
        let databaseDirectory = (configuration.sqlite.databasePath as NSString).deletingLastPathComponent
        files = AttachmentFiles(
            directory: configuration.chat.attachmentsDirectory ?? (databaseDirectory.isEmpty ? "." : databaseDirectory) + "/attachments",
            maxBytes: configuration.chat.maxAttachmentBytes
        )
    }

    var input: ChatInput { ChatInput(maxMessageBytes: settings.maxMessageBytes) }

    /// Adds chat's REST endpoints to `router`.
    func addRoutes(to router: Router<AppRequestContext>, statusGuard: EndpointGuard) {
        router.addRoutes(
            AuthController(
                store: store, tokens: tokens, hasher: hasher, authenticator: authenticator, registration: auth.registration,
                loginLimits: loginLimits
            ).endpoints,
            atPath: RouterPath(AuthController.mountPath)
        )
        router.addRoutes(UsersController(store: store, authenticator: authenticator, hub: hub).endpoints, atPath: RouterPath(UsersController.mountPath))
        router.addRoutes(RoomsController(store: store, authenticator: authenticator, input: input, files: files).endpoints, atPath: RouterPath(RoomsController.mountPath))
        router.addRoutes(AttachmentsController(store: store, authenticator: authenticator, files: files).endpoints, atPath: RouterPath(AttachmentsController.mountPath))
        router.addRoutes(MessagesController(store: store, authenticator: authenticator, input: input).endpoints, atPath: RouterPath(MessagesController.mountPath))
        router.addRoutes(SearchController(store: store, authenticator: authenticator).endpoints, atPath: RouterPath(SearchController.mountPath))
        router.addRoutes(ChatStatsController(store: store, hub: hub, statusGuard: statusGuard).endpoints)
    }

    /// The `/ws` sockets and the service that handles their input. Every request for `/ws` becomes a socket (a bad
    /// token is answered on the socket, with close code 4001, because browsers cannot read the status of a refused
    /// upgrade).
    func makeSockets(logger: Logger) -> ChatSockets {
        ChatSockets(
            session: ChatSocketSession(store: store, hub: hub, authenticator: authenticator, settings: settings, input: input, clock: clock),
            logger: logger
        )
    }

    /// The service that removes old attachment files.
    func makeAttachmentPurge(logger: Logger) -> AttachmentPurgeService {
        AttachmentPurgeService(store: store, files: files, retention: settings.attachmentRetention, clock: clock, logger: logger)
    }
}
