import CRdKafka

/// How to reach and talk to a Kafka cluster, in MessageBridge's terms; `librdkafkaProperties()` turns it into
/// librdkafka's property map.
public struct KafkaProducerConfiguration: Sendable {
    /// Bootstrap brokers as `host:port`; librdkafka discovers the rest of the cluster from them.
    public var brokers: [String]
    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`; when nil it is derived from `tlsEnabled` and `saslMechanism`.
    public var securityProtocol: String?
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; setting it turns SASL on.
    public var saslMechanism: String?
    /// SASL user name.
    public var saslUsername: String?
    /// SASL password. Never logged.
    public var saslPassword: String?
    /// With no explicit `securityProtocol`, true selects `SSL` (or `SASL_SSL` when SASL is configured).
    public var tlsEnabled: Bool
    /// PEM file with the CA certificates that verify the brokers.
    public var caFile: String?
    /// PEM client certificate for mutual TLS.
    public var certFile: String?
    /// PEM private key of `certFile`.
    public var keyFile: String?
    /// How long librdkafka may keep trying to deliver one record (`message.timeout.ms`), and how long `send` waits for
    /// room in a full local queue; also caps `request.timeout.ms`. Zero means no limit, as it does to librdkafka.
    public var timeout: Duration
    /// Maximum records per batch (`batch.num.messages`); nil keeps librdkafka's default.
    public var batchSize: Int?
    /// Retries per record inside librdkafka (`message.send.max.retries`); nil keeps librdkafka's default.
    public var retryMax: Int?
    /// Wait between librdkafka's retries (`retry.backoff.ms`); nil keeps librdkafka's default.
    public var retryBackoff: Duration?
    /// How often librdkafka reports broker states to `connectionState` (`statistics.interval.ms`); nil disables it.
    public var statisticsInterval: Duration?
    /// Raw librdkafka properties, applied last so they can override anything above.
    public var properties: [String: String]

    /// Creates a configuration; only `brokers` has no sensible default.
    public init(
        brokers: [String],
        securityProtocol: String? = nil,
        saslMechanism: String? = nil,
        saslUsername: String? = nil,
        saslPassword: String? = nil,
        tlsEnabled: Bool = false,
        caFile: String? = nil,
        certFile: String? = nil,
        keyFile: String? = nil,
        timeout: Duration = .seconds(30),
        batchSize: Int? = nil,
        retryMax: Int? = nil,
        retryBackoff: Duration? = nil,
        statisticsInterval: Duration? = .seconds(5),
        properties: [String: String] = [:]
    ) {
        self.brokers = brokers
        self.securityProtocol = securityProtocol
        self.saslMechanism = saslMechanism
        self.saslUsername = saslUsername
        self.saslPassword = saslPassword
        self.tlsEnabled = tlsEnabled
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.timeout = timeout
        self.batchSize = batchSize
        self.retryMax = retryMax
        self.retryBackoff = retryBackoff
        self.statisticsInterval = statisticsInterval
        self.properties = properties
    }

    /// The security protocol librdkafka will use, after applying the `tlsEnabled` / SASL defaults.
    public var effectiveSecurityProtocol: String {
        if let securityProtocol { return securityProtocol }
        let usesSASL = saslMechanism != nil
        switch (tlsEnabled, usesSASL) {
        case (true, true): return "SASL_SSL"
        case (true, false): return "SSL"
        case (false, true): return "SASL_PLAINTEXT"
        case (false, false): return "PLAINTEXT"
        }
    }

    /// The full librdkafka property map, in the order it is applied; `acks=all` and `enable.idempotence=true` are
    /// always present because MessageBridge only confirms a message once every in-sync replica holds it, exactly once.
    public func librdkafkaProperties() -> [(String, String)] {
        var result: [(String, String)] = [
            ("bootstrap.servers", brokers.joined(separator: ",")),
            ("security.protocol", effectiveSecurityProtocol),
        ]
        if let saslMechanism { result.append(("sasl.mechanism", saslMechanism)) }
        if let saslUsername { result.append(("sasl.username", saslUsername)) }
        if let saslPassword { result.append(("sasl.password", saslPassword)) }
        if let caFile { result.append(("ssl.ca.location", caFile)) }
        if let certFile { result.append(("ssl.certificate.location", certFile)) }
        if let keyFile { result.append(("ssl.key.location", keyFile)) }
        let timeoutMilliseconds = Self.milliseconds(timeout)
        result.append(("message.timeout.ms", String(timeoutMilliseconds)))
        // A single request may not outlive the record it carries; librdkafka's own default is 30 s.
        result.append(("request.timeout.ms", String(max(1, min(timeoutMilliseconds, 30_000)))))
        if let batchSize { result.append(("batch.num.messages", String(batchSize))) }
        if let retryMax { result.append(("message.send.max.retries", String(retryMax))) }
        if let retryBackoff { result.append(("retry.backoff.ms", String(Self.milliseconds(retryBackoff)))) }
        if let statisticsInterval {
            result.append(("statistics.interval.ms", String(Self.milliseconds(statisticsInterval))))
        }
        result.append(("acks", "all"))
        result.append(("enable.idempotence", "true"))
        for key in properties.keys.sorted() {
            // Force-unwrap: `key` was just read from `properties.keys`.
            result.append((key, properties[key]!))
        }
        return result
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// A librdkafka property that librdkafka itself rejected.
public struct KafkaConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The offending property; nil when librdkafka rejected the combination as a whole (at `rd_kafka_new`).
    public var key: String?
    /// librdkafka's own explanation, verbatim.
    public var message: String

    /// Creates an error for `key` with librdkafka's text.
    public init(key: String?, message: String) {
        self.key = key
        self.message = message
    }

    /// "`key`: message", suitable for a configuration check's output.
    public var description: String {
        if let key { return "Kafka property \(key): \(message)" }
        return "Kafka configuration: \(message)"
    }
}

/// A librdkafka configuration object that is destroyed unless ownership passes to `rd_kafka_new`.
struct LibrdkafkaConfiguration: ~Copyable {
    private(set) var pointer: OpaquePointer?

    /// Builds and checks every property, throwing for the first one librdkafka refuses.
    init(_ properties: [(String, String)]) throws(KafkaConfigurationError) {
        // Force-unwrap: rd_kafka_conf_new only returns NULL when malloc fails, which Swift treats as fatal anyway.
        let conf = rd_kafka_conf_new()!
        for (key, value) in properties {
            var errstr = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaConfigurationError(key: key, message: decodeCString(errstr))
            }
        }
        pointer = conf
    }

    /// Hands the configuration over; after this the caller (or `rd_kafka_new`) owns it.
    mutating func take() -> OpaquePointer {
        // Force-unwrap: `pointer` is only nil after a previous `take()`, and the type is non-copyable.
        let conf = pointer!
        pointer = nil
        return conf
    }

    deinit {
        if let pointer { rd_kafka_conf_destroy(pointer) }
    }
}

/// Reads a NUL-terminated buffer that librdkafka filled in.
func decodeCString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
