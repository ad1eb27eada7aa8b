import Foundation

/// Everything `messagebridge serve` runs with, read from YAML (see `ConfigurationLoader`).
public struct MessageBridgeConfiguration: Sendable {
    /// The HTTP listener.
    public var server: ServerSettings
    /// The webhook routes.
    public var routes: [RouteSettings]
    /// The Kafka cluster, when any route delivers to a topic.
    public var kafka: KafkaSettings?
    /// The embedded store.
    public var sqlite: SQLiteSettings
    /// A global HTTP destination that replaces Kafka for routes without their own `destination`.
    public var remoteURL: RemoteURLSettings?
    /// Delivery and retry behaviour.
    public var worker: WorkerSettings
    /// Log level and format.
    public var logging: LoggingSettings
    /// Token-bucket limits per client IP, route, API key and path pattern (`rate_limits:`); off when absent.
    public var rateLimits = RateLimitSettings()
    /// Browser cross-origin access (`cors:`); no CORS headers when absent.
    public var cors: CORSSettings?
    /// Circuit breakers per destination.
    public var circuitBreaker = CircuitBreakerSettings()
    /// The Prometheus endpoint (`metrics:`).
    public var metrics = MetricsSettings()
    /// Who may read `GET /status` (`status:`); everyone by default.
    public var status = EndpointAccess()
    /// Chat accounts and tokens (`auth:`).
    public var auth = AuthSettings()
    /// Chat rooms, messages and the socket (`chat:`).
    public var chat = ChatSettings()
    /// Outgoing event webhooks (`webhooks:`).
    public var webhooks = EventWebhookSettings()
    /// Scheduled online backups (`backup:`); none when absent.
    public var backup = BackupSettings()

    /// Makes a configuration; every section has defaults except the routes.
    public init(
        server: ServerSettings = .init(),
        routes: [RouteSettings] = [],
        kafka: KafkaSettings? = nil,
        sqlite: SQLiteSettings = .init(),
        remoteURL: RemoteURLSettings? = nil,
        worker: WorkerSettings = .init(),
        logging: LoggingSettings = .init()
    ) {
        self.server = server
        self.routes = routes
        self.kafka = kafka
        self.sqlite = sqlite
        self.remoteURL = remoteURL
        self.worker = worker
        self.logging = logging
    }

    /// Where a route's messages go: its own `destination`, else the global `remote_url`, else its Kafka `queue`.
    public func destination(for route: RouteSettings) -> Destination? {
        if let url = route.destination { return .http(url: url) }
        if let remoteURL { return .http(url: remoteURL.url) }
        if let queue = route.queue, kafka != nil { return .kafka(topic: queue) }
        return nil
    }
}

/// `server:`.
public struct ServerSettings: Sendable {
    /// Address to bind.
    public var host: String = "0.0.0.0"
    /// Port to bind; 0 picks a free one (tests).
    public var port: Int = 8080
    /// Largest accepted request body; larger bodies get 413.
    public var maxBodyBytes: Int = 1 << 20
    /// How long shutdown waits for in-flight requests and deliveries.
    public var shutdownTimeout: Duration = .seconds(30)
    /// How long a new connection may take to send its first complete request head (slow-header clients are cut
    /// off here).
    public var requestHeadTimeout: Duration = .seconds(10)
    /// How long a keep-alive connection may wait between a response and the next complete request head.
    public var idleTimeout: Duration = .seconds(60)
    /// Open connections at most; one more gets `503` and is closed. Nil: 10 000, or less when the process's
    /// descriptor limit is lower (the limit minus 128, kept for the store, the log and outbound connections).
    public var maxConnections: Int?

    /// Defaults: `0.0.0.0:8080`, 1 MiB bodies, 30 s shutdown grace, 10 s to send a request head, 60 s idle.
    public init() {}
}

/// One entry of `routes:`.
public struct RouteSettings: Sendable {
    /// The path that accepts POSTs, e.g. `/webhook/payment`.
    public var path: String
    /// The Kafka topic.
    public var queue: String?
    /// A per-route HTTP destination URL.
    public var destination: String?
    /// Signature verification of inbound requests (`verify:`); none when nil.
    public var verification: VerificationSettings?
    /// Idempotent ingest (`dedup:`); every request is stored when nil.
    public var dedup: DedupSettings?
    /// Where the Kafka record key comes from (`kafka_key:`); the message id when nil.
    public var kafkaKey: RequestField?
    /// Whether a POST needs an ingest- or admin-scope API key (`require_api_key:`).
    public var requiresAPIKey = false
    /// Credential headers this route stores and forwards to its destination (`forward_credentials:`); every
    /// other credential (see ``CredentialHeaders``) is dropped at ingest.
    public var forwardCredentials: [String] = []

    /// Which of this route's request headers are credentials, and which of those it keeps.
    public var credentialHeaders: CredentialHeaders {
        CredentialHeaders(
            signatureHeaders: verification?.signatureHeaders ?? [],
            forwarded: forwardCredentials
        )
    }

    /// Makes a route.
    public init(path: String, queue: String? = nil, destination: String? = nil) {
        self.path = path
        self.queue = queue
        self.destination = destination
    }
}

/// `kafka:`, in the original MessageBridge schema plus `properties` passed straight to librdkafka.
public struct KafkaSettings: Sendable {
    /// Bootstrap brokers, `host:port`.
    public var brokers: [String] = []
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    public var securityProtocol: String?
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    public var saslMechanism: String?
    /// SASL user.
    public var saslUsername: String?
    /// SASL password (or `MESSAGEBRIDGE_KAFKA_SASL_PASSWORD`).
    public var saslPassword: String?
    /// Use TLS to the brokers.
    public var tlsEnabled: Bool = false
    /// CA bundle for TLS.
    public var caFile: String?
    /// Client certificate for TLS.
    public var certFile: String?
    /// Client key for TLS.
    public var keyFile: String?
    /// How long one produce may take before it counts as failed.
    public var timeout: Duration = .seconds(30)
    /// librdkafka `batch.num.messages`.
    public var batchSize: Int?
    /// librdkafka `message.send.max.retries`.
    public var retryMax: Int?
    /// librdkafka `retry.backoff.ms`.
    public var retryBackoff: Duration?
    /// Any other librdkafka property.
    public var properties: [String: String] = [:]
    /// Records awaiting a delivery report at once on this node (`max_in_flight`).
    public var maxInFlight: Int = 10_000

    /// Empty settings.
    public init() {}
}

/// `sqlite:`.
public struct SQLiteSettings: Sendable {
    /// The database file; its directory is created when missing.
    public var databasePath: String = "./data/messagebridge.db"
    /// How much of the file each connection reads through a memory map (`PRAGMA mmap_size`), in MiB; 0 reads
    /// everything through SQLite's page cache. Mapped pages are the kernel's page cache itself, so a read costs no
    /// copy, where a page outside SQLite's small per-connection cache is otherwise copied in by `pread` (most of a
    /// search's CPU at a million chat messages). Writes never go through the map.
    public var mmapSizeMiB: Int

    /// `sqlite.mmap_size_mb` when the configuration names none: 1 GiB.
    public static let defaultMmapSizeMiB = 1024

    /// Defaults to `./data/messagebridge.db`, 1 GiB mapped.
    public init(databasePath: String = "./data/messagebridge.db", mmapSizeMiB: Int = SQLiteSettings.defaultMmapSizeMiB) {
        self.databasePath = databasePath
        self.mmapSizeMiB = mmapSizeMiB
    }
}

/// `remote_url:`.
public struct RemoteURLSettings: Sendable {
    /// Where every route without its own `destination` delivers.
    public var url: String
    /// How long one HTTP delivery may take.
    public var timeout: Duration = .seconds(30)
    /// Extra immediate tries inside one delivery attempt, for blips, before the attempt counts as failed.
    public var retries: Int = 0

    /// Makes the settings.
    public init(url: String, timeout: Duration = .seconds(30), retries: Int = 0) {
        self.url = url
        self.timeout = timeout
        self.retries = retries
    }
}

/// `worker:`.
public struct WorkerSettings: Sendable {
    /// The longest the retry worker sleeps between looks for due messages.
    public var retryInterval: Duration = .seconds(30)
    /// Messages claimed per look.
    public var batchSize: Int = 50
    /// Failed attempts before a message becomes `failed`; 0 retries forever.
    public var maxRetries: Int = 0
    /// Delay after the first failed attempt; it doubles each time.
    public var initialBackoff: Duration = .seconds(5)
    /// The longest delay between attempts.
    public var maxBackoff: Duration = .seconds(3600)
    /// Deliveries running at once on this node.
    public var concurrency: Int = 128
    /// How long a claimed message stays leased to a worker before another may take it.
    public var leaseTimeout: Duration = .seconds(120)
    /// How long delivered messages are kept before they are purged.
    public var deliveredRetention: Duration = .seconds(7 * 86_400)
    /// Timeout for HTTP destinations given by a route's `destination` (remote_url has its own).
    public var httpTimeout: Duration = .seconds(30)

    /// Defaults: 30 s interval, batches of 50, unlimited retries, 5 s → 1 h backoff.
    public init() {}
}

/// `logging:`.
public struct LoggingSettings: Sendable {
    /// How much to log, as swift-log's levels are named.
    public enum Level: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// How each line is written.
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON object a line.
        case json
        /// Plain text, for a terminal.
        case text
    }

    /// The least severe level written (`LOG_LEVEL` overrides).
    public var level: Level = .info
    /// `json` (one object a line) or `text`.
    public var format: Format = .json

    /// Defaults: info, JSON.
    public init() {}
}
