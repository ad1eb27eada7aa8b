import Kafka
import KafkaTestSupport
import Testing

@Suite("KafkaProducerConfiguration")
struct KafkaProducerConfigurationTests {
    private func properties(_ configuration: KafkaProducerConfiguration) -> [String: String] {
        // Later entries win, as they do when librdkafka applies them in order.
        Dictionary(configuration.librdkafkaProperties(), uniquingKeysWith: { _, last in last })
    }

    @Test("acks=all and idempotence are always on, and the options map to librdkafka's names")
    func mapsOptions() {
        let configuration = KafkaProducerConfiguration(
            brokers: ["127.0.0.1:9092", "127.0.0.1:9093"],
            timeout: .seconds(10),
            batchSize: 500,
            retryMax: 7,
            retryBackoff: .milliseconds(250),
            statisticsInterval: nil
        )
        let map = properties(configuration)
        #expect(map["bootstrap.servers"] == "127.0.0.1:9092,127.0.0.1:9093")
        #expect(map["acks"] == "all")
        #expect(map["enable.idempotence"] == "true")
        #expect(map["message.timeout.ms"] == "10000")
        #expect(map["request.timeout.ms"] == "10000")
        #expect(map["batch.num.messages"] == "500")
        #expect(map["message.send.max.retries"] == "7")
        #expect(map["retry.backoff.ms"] == "250")
        #expect(map["security.protocol"] == "PLAINTEXT")
        #expect(map["statistics.interval.ms"] == nil)
    }

    @Test(
        "the security protocol follows TLS and SASL settings unless given explicitly",
        arguments: [
            (false, nil, nil, "PLAINTEXT"),
            (true, nil, nil, "SSL"),
            (false, "PLAIN", nil, "SASL_PLAINTEXT"),
            (true, "SCRAM-SHA-512", nil, "SASL_SSL"),
            (true, nil, "PLAINTEXT", "PLAINTEXT"),
        ] as [(Bool, String?, String?, String)]
    )
    func derivesSecurityProtocol(tls: Bool, mechanism: String?, explicit: String?, expected: String) {
        let configuration = KafkaProducerConfiguration(
            brokers: ["127.0.0.1:9092"],
            securityProtocol: explicit,
            saslMechanism: mechanism,
            tlsEnabled: tls
        )
        #expect(properties(configuration)["security.protocol"] == expected)
    }

    @Test("raw properties are applied last and override the derived ones")
    func rawPropertiesOverride() {
        let configuration = KafkaProducerConfiguration(
            brokers: ["127.0.0.1:9092"],
            properties: ["linger.ms": "20", "message.timeout.ms": "1234"]
        )
        let list = configuration.librdkafkaProperties()
        #expect(list.last(where: { $0.0 == "message.timeout.ms" })?.1 == "1234")
        #expect(properties(configuration)["linger.ms"] == "20")
    }

    @Test("a full, valid configuration passes librdkafka's checks")
    func validConfigurationValidates() throws {
        let configuration = KafkaProducerConfiguration(
            brokers: ["127.0.0.1:9092"],
            saslMechanism: "SCRAM-SHA-256",
            saslUsername: "bridge",
            saslPassword: "secret",
            batchSize: 1000,
            retryMax: 3,
            retryBackoff: .milliseconds(100)
        )
        try KafkaProducer.validate(configuration)
    }

    @Test("an unknown property name is rejected, naming the key with librdkafka's text")
    func rejectsUnknownProperty() {
        let configuration = KafkaProducerConfiguration(brokers: ["127.0.0.1:9092"], properties: ["no.such.property": "1"])
        let error = #expect(throws: KafkaConfigurationError.self) { try KafkaProducer.validate(configuration) }
        #expect(error?.key == "no.such.property")
        #expect(error?.message.contains("No such configuration property") == true)
        let initError = #expect(throws: KafkaConfigurationError.self) {
            try KafkaProducer(configuration: configuration, logger: makeTestLogger("kafka-test"))
        }
        #expect(initError?.key == "no.such.property")
    }

    @Test(
        "an invalid value is rejected, naming the key",
        arguments: [
            ("acks", "sometimes"),
            ("compression.type", "zip"),
            ("security.protocol", "CARRIER_PIGEON"),
        ]
    )
    func rejectsInvalidValue(key: String, value: String) {
        let configuration = KafkaProducerConfiguration(brokers: ["127.0.0.1:9092"], properties: [key: value])
        let error = #expect(throws: KafkaConfigurationError.self) { try KafkaProducer.validate(configuration) }
        #expect(error?.key == key)
        #expect(error?.message.isEmpty == false)
    }

    @Test("an out-of-range option is rejected under its librdkafka name")
    func rejectsOutOfRangeOption() {
        let configuration = KafkaProducerConfiguration(brokers: ["127.0.0.1:9092"], batchSize: -5)
        let error = #expect(throws: KafkaConfigurationError.self) { try KafkaProducer.validate(configuration) }
        #expect(error?.key == "batch.num.messages")
        #expect(error?.message.contains("batch.num.messages") == true)
    }
}
