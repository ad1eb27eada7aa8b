import CRdKafka

/// One Kafka record header; values are raw bytes because Kafka does not require them to be text.
public struct KafkaHeader: Sendable, Hashable {
    /// Header name.
    public var name: String
    /// Header value, byte for byte.
    public var value: [UInt8] {
        get {
            switch storage {
            case .bytes(let bytes): bytes
            case .text(let text): Array(text.utf8)
            }
        }
        set { storage = .bytes(newValue) }
    }

    /// The value as given: a header made from text keeps the string, so building a record makes no byte array per
    /// header (its bytes are copied once, straight into the produce call's buffer).
    private var storage: Storage

    private enum Storage: Sendable {
        case bytes([UInt8])
        case text(String)
    }

    /// Creates a header.
    public init(name: String, value: [UInt8]) {
        self.name = name
        self.storage = .bytes(value)
    }

    /// Creates a header whose value is `text`'s UTF-8 bytes.
    public init(name: String, text: String) {
        self.name = name
        self.storage = .text(text)
    }

    /// Appends the value's bytes to `buffer`; returns how many.
    func appendValue(to buffer: inout [UInt8]) -> Int {
        let start = buffer.count
        switch storage {
        case .bytes(let bytes): buffer.append(contentsOf: bytes)
        case .text(let text): buffer.append(contentsOf: text.utf8)
        }
        return buffer.count - start
    }

    /// Headers are equal when their names and value bytes are, however they were made.
    public static func == (lhs: KafkaHeader, rhs: KafkaHeader) -> Bool {
        lhs.name == rhs.name && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(value)
    }
}

/// One record to produce.
public struct KafkaRecord: Sendable {
    /// The topic.
    public var topic: String
    /// The record key; nil for none (an empty array is an empty key).
    public var key: [UInt8]?
    /// The record value.
    public var value: [UInt8]
    /// Record headers, in order; a name may repeat.
    public var headers: [KafkaHeader]

    /// Makes a record.
    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// Where the broker stored a record, once every in-sync replica has it (`acks=all`).
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// Topic the record was written to.
    public var topic: String
    /// Partition the record was written to.
    public var partition: Int32
    /// Offset of the record in that partition.
    public var offset: Int64

    /// Creates a report.
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// Why a record was not confirmed.
public struct KafkaProduceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's name for the error (`rd_kafka_err2name`, e.g. `REQUEST_TIMED_OUT`, `_MSG_TIMED_OUT`): drawn
    /// from a fixed enum, so safe as a metric label.
    public var code: String
    /// librdkafka's description, for logs.
    public var message: String
    /// True when the same record may succeed later (broker down, timeout, shutdown): keep it and try again.
    public var isRetriable: Bool

    /// Creates an error.
    public init(code: String, message: String, isRetriable: Bool) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
    }

    init(_ error: rd_kafka_resp_err_t) {
        self.init(
            code: String(cString: rd_kafka_err2name(error)),
            message: String(cString: rd_kafka_err2str(error)),
            isRetriable: Self.retriableErrors.contains(error.rawValue)
        )
    }

    /// The producer has been shut down; the record was never handed to librdkafka.
    static var producerShutDown: KafkaProduceError { KafkaProduceError(RD_KAFKA_RESP_ERR__DESTROY) }

    /// Errors that describe the cluster's or the network's state rather than the record itself. librdkafka has
    /// already retried these internally, so reaching the caller means the record's own deadline ran out.
    private static let retriableErrors: Set<Int32> = [
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__TIMED_OUT,
        RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
        RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR__RESOLVE,
        RD_KAFKA_RESP_ERR__QUEUE_FULL,
        RD_KAFKA_RESP_ERR__DESTROY,
        RD_KAFKA_RESP_ERR__PURGE_QUEUE,
        RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
        RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
        RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
        RD_KAFKA_RESP_ERR__NODE_UPDATE,
        RD_KAFKA_RESP_ERR__WAIT_COORD,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RD_KAFKA_RESP_ERR_NOT_CONTROLLER,
        RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
        RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
        RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// "code: message".
    public var description: String { "\(code): \(message)" }
}

/// What the producer currently knows about its brokers.
public enum KafkaConnectionState: Sendable, Hashable {
    /// Nothing learned yet (no statistics, error or delivery report so far).
    case unknown
    /// At least one broker is reachable; `brokerCount` is how many the producer holds an open connection to, or the
    /// cluster size reported by a metadata request.
    case connected(brokerCount: Int)
    /// No broker is reachable, with librdkafka's explanation.
    case disconnected(reason: String)

    /// True for `.connected`.
    public var isConnected: Bool {
        if case .connected = self { return true }
        return false
    }
}
