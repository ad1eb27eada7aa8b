import Core
import Kafka

extension KafkaProducerConfiguration {
    /// The producer configuration for the `kafka:` settings.
    public init(settings: KafkaSettings) {
        self.init(
            brokers: settings.brokers,
            securityProtocol: settings.securityProtocol,
            saslMechanism: settings.saslMechanism,
            saslUsername: settings.saslUsername,
            saslPassword: settings.saslPassword,
            tlsEnabled: settings.tlsEnabled,
            caFile: settings.caFile,
            certFile: settings.certFile,
            keyFile: settings.keyFile,
            timeout: settings.timeout,
            batchSize: settings.batchSize,
            retryMax: settings.retryMax,
            retryBackoff: settings.retryBackoff,
            properties: settings.properties
        )
    }
}

/// Checks the `kafka:` section with librdkafka itself, so a bad property fails `check-config` and start-up with
/// librdkafka's own words and the key.
func validateKafkaSettings(_ configuration: MessageBridgeConfiguration) -> [ConfigurationProblem] {
    guard let kafka = configuration.kafka else { return [] }
    do {
        try KafkaProducer.validate(KafkaProducerConfiguration(settings: kafka))
        return []
    } catch {
        let key = error.key.map { name in kafka.properties[name] != nil ? "kafka.properties.\(name)" : "kafka (\(name))" } ?? "kafka"
        return [ConfigurationProblem(key: key, line: nil, message: error.message)]
    }
}
