import AsyncHTTPClient
import ConfigurationFile
import Core
import Foundation
import Logging
import Storage

/// Step 2c of the composition root: event webhooks out. The endpoint store over the same SQLite file (the event
/// log is its outbox), the manager the admin API and the command line share, its own HTTP client (redirects off,
/// the configured timeout) and the worker that fans out and sends.
struct EventWebhooks {
    let manager: EndpointManager
    let worker: EventWebhookWorker
    let httpClient: HTTPClient

    init(
        configuration: MessageBridgeConfiguration, messageStore: any MessageStore, breakers: CircuitBreakerRegistry?,
        clock: any WallClock, logger: Logger
    ) async throws {
        guard let sqlite = messageStore as? SQLiteMessageStore else {
            throw ConfigurationError(problems: [.init(key: "webhooks", line: nil, message: "event webhooks need the SQLite store")])
        }
        let settings = configuration.webhooks
        let store = SQLiteEndpointStore(database: sqlite.database)
        let wakeup = Wakeup()
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        // No tracer is bootstrapped: a span per request would go to the no-op tracer, and its attributes cost ~5 % of
        // an event delivery's CPU (the egress benchmark's profile).
        clientConfiguration.tracing.tracer = nil
        clientConfiguration.timeout.connect = .nanoseconds(min(settings.timeout, .seconds(10)).nanosecondsClamped)
        clientConfiguration.timeout.read = .nanoseconds(settings.timeout.nanosecondsClamped)
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, settings.maxInFlightPerEndpoint)
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let worker = EventWebhookWorker(
            store: store, messageStore: sqlite, httpClient: httpClient, settings: settings, breakers: breakers, clock: clock,
            logger: logger, wakeup: wakeup
        )
        // Outcome events are written from the first delivery on, not only from the worker's first pass.
        worker.subscribeOutcomeEvents(try await store.endpoints())
        self.httpClient = httpClient
        self.worker = worker
        self.manager = EndpointManager(store: store, settings: settings, clock: clock, onChange: { worker.noteEndpointsChanged() })
    }
}

/// The chat store's bus: the hub, and a nudge for the event-webhook worker, whose fan-out reads the same events
/// from the log.
struct NotifyingChatBus: ChatEventBus {
    let hub: ChatHub
    let onEvents: @Sendable () -> Void

    func publish(_ events: [ChatEvent]) {
        hub.publish(events)
        onEvents()
    }
}
