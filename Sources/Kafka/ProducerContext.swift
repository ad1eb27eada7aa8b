import Logging
import Synchronization

/// State shared with librdkafka's callbacks, which reach it through the configuration opaque.
final class ProducerContext: Sendable {
    let logger: Logger
    let inFlight = Atomic<Int>(0)
    let produced = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    private let connection = Mutex<KafkaConnectionState>(.unknown)

    init(logger: Logger) {
        self.logger = logger
    }

    var connectionState: KafkaConnectionState { connection.withLock { $0 } }

    func setConnectionState(_ state: KafkaConnectionState) {
        connection.withLock { $0 = state }
    }

    /// Records `state` unless something was learned already (a later source is fresher).
    func setConnectionStateIfUnknown(_ state: KafkaConnectionState) {
        connection.withLock { current in
            if current == .unknown { current = state }
        }
    }

    /// A confirmed record proves some broker is reachable, whatever older statistics said.
    func noteDelivery() {
        connection.withLock { state in
            if !state.isConnected { state = .connected(brokerCount: 1) }
        }
    }
}
