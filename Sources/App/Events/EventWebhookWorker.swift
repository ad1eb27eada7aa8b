import AsyncHTTPClient
import Core
import Foundation
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Storage
import Synchronization
import WebhookSecurity

/// Sends event webhooks: fans new events of the log out to the endpoints that want them, takes due deliveries
/// (each endpoint up to its in-flight cap and rate limit, so a slow receiver holds only its own), signs and POSTs
/// them, and records each outcome with the retry schedule, the circuit breakers and the auto-disable rules.
///
/// Woken when chat commits events, when endpoints change, and when a delivery ends; otherwise it looks every
/// `webhooks.poll_interval` (which is also how the pipeline's own `webhook.*` events are picked up). What is in
/// flight is known only here: a crash leaves those deliveries pending, and they are sent again after the restart.
final class EventWebhookWorker: Service {
    let store: any EventEndpointStore
    let messageStore: SQLiteMessageStore?
    let sender: EventWebhookSender
    let settings: EventWebhookSettings
    let schedule: EventRetrySchedule
    let breakers: CircuitBreakerRegistry?
    let clock: any WallClock
    let logger: Logger
    let wakeup: Wakeup
    private let outcomes: GroupCommitter<EventDeliveryOutcome, Bool>
    private let inFlight = Mutex(InFlight())
    private let isStopping = Atomic(false)
    private let rateLimiters = Mutex([String: (limit: Int, limiter: TokenBucketRateLimiter)]())
    /// Set when the log may hold events not fanned out yet (chat committed some, or the poll interval passed).
    private let hasNewEvents = Atomic(true)
    /// Set when the endpoints may have changed (the admin API or the poll interval; the command line is seen at
    /// the latter).
    private let endpointsAreStale = Atomic(true)
    /// Set when what was read ahead may be out of date (an endpoint changed, a delivery was replayed or retried).
    private let queuesAreStale = Atomic(false)
    /// The earliest retry (or deferral) an outcome of this run scheduled, on `clock`: when it falls due, endpoints
    /// that had nothing due are looked at again.
    private let soonestRetry = Mutex<Date?>(nil)
    /// The enabled endpoints, as of the last reload.
    private let endpointCache = Mutex<[EventEndpoint]>([])
    private let lastPoll = Mutex<ContinuousClock.Instant?>(nil)
    let deliveryCounters = MetricCache { Counter(label: "messagebridge_event_deliveries_total", dimensions: $0) }
    let durationTimers = MetricCache {
        Timer(label: "messagebridge_event_delivery_duration_seconds", dimensions: $0, preferredDisplayUnit: .seconds)
    }
    let disabledCounter = Counter(label: "messagebridge_event_endpoints_disabled_total")

    private struct InFlight {
        var ids: Set<Int64> = []
        var byEndpoint: [String: Set<Int64>] = [:]
    }

    /// Due deliveries read ahead, per endpoint, and which endpoints had nothing more due at their last read. Owned
    /// by the worker's loop alone. Reading a batch per endpoint when its queue runs low, rather than the store on
    /// every pass, lets a completion start the next delivery from memory: one read per several deliveries.
    struct ReadAhead {
        var queues: [String: CircularBuffer<DueEventDelivery>] = [:]
        var exhausted: Set<String> = []

        func queuedIDs(of endpointID: String) -> Set<Int64> { Set((queues[endpointID] ?? []).map(\.delivery.id)) }

        mutating func removeAll() {
            queues.removeAll()
            exhausted.removeAll()
        }
    }

    init(
        store: any EventEndpointStore, messageStore: SQLiteMessageStore?, httpClient: HTTPClient, settings: EventWebhookSettings,
        breakers: CircuitBreakerRegistry?, clock: any WallClock, logger: Logger, wakeup: Wakeup
    ) {
        self.store = store
        self.messageStore = messageStore
        self.settings = settings
        self.schedule = EventRetrySchedule(delays: settings.retrySchedule, jitter: settings.retryJitter, retryAfterMax: settings.retryAfterMax)
        self.breakers = breakers
        self.clock = clock
        self.logger = logger
        self.wakeup = wakeup
        self.sender = EventWebhookSender(
            httpClient: httpClient, addressGuard: EndpointAddressGuard(allowed: settings.allowNetworks),
            timeout: settings.timeout, excerptBytes: settings.responseExcerptBytes
        )
        let policy = EndpointDisablePolicy(after: settings.disableAfter, afterFailures: settings.disableAfterFailures)
        let disabledCounter = self.disabledCounter
        outcomes = GroupCommitter { [logger] batch in
            let disabled = try await store.record(batch, policy: policy, now: clock.now)
            for endpoint in disabled {
                disabledCounter.increment()
                logger.warning("event endpoint disabled", metadata: ["endpoint": "\(endpoint.endpointID)", "reason": "\(endpoint.reason)"])
            }
            // Whether the batch disabled an endpoint: its deliveries read ahead are held now.
            return Array(repeating: !disabled.isEmpty, count: batch.count)
        }
    }

    /// Sets which pipeline outcomes the message store writes to the log, from the endpoints that subscribe to them.
    func subscribeOutcomeEvents(_ endpoints: [EventEndpoint]) {
        func wanted(_ type: EventWebhookType) -> Bool {
            endpoints.contains { $0.eventTypes.isEmpty || $0.eventTypes.contains { $0.matches(type.rawValue) } }
        }
        messageStore?.recordOutcomeEvents(delivered: wanted(.webhookDelivered), failed: wanted(.webhookFailed))
    }

    func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    var readAhead = ReadAhead()
                    while !isStopping.load(ordering: .relaxed) {
                        let wait = await round(group: &group, readAhead: &readAhead)
                        await wakeup.wait(timeout: wait)
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Chat committed events: fan them out now.
    func noteNewEvents() {
        hasNewEvents.store(true, ordering: .relaxed)
        wakeup.signal()
    }

    /// An endpoint was made, changed or replayed: reload them and look for due deliveries now.
    func noteEndpointsChanged() {
        endpointsAreStale.store(true, ordering: .relaxed)
        hasNewEvents.store(true, ordering: .relaxed)
        queuesAreStale.store(true, ordering: .relaxed)
        wakeup.signal()
    }

    private func stop() {
        isStopping.store(true, ordering: .relaxed)
        wakeup.signal()
    }

    /// One pass: fan out what is new, read ahead what is due, start what the limits allow; returns how long to wait
    /// before the next pass.
    private func round(group: inout DiscardingTaskGroup, readAhead: inout ReadAhead) async -> Duration {
        do {
            // Every poll interval everything is looked at again: the pipeline's own events (webhook.*), which
            // nothing signals, and endpoint changes made by the command line.
            let now = ContinuousClock.now
            let isPoll = lastPoll.withLock { last -> Bool in
                guard let previous = last, now - previous < settings.pollInterval else {
                    last = now
                    return true
                }
                return false
            }
            if isPoll {
                hasNewEvents.store(true, ordering: .relaxed)
                endpointsAreStale.store(true, ordering: .relaxed)
                readAhead.exhausted.removeAll()
            }
            if queuesAreStale.exchange(false, ordering: .relaxed) { readAhead.removeAll() }
            if hasNewEvents.exchange(false, ordering: .relaxed) {
                // Fan out until caught up (bounded, so that a long backlog does not keep due deliveries waiting).
                var batches = 0
                while true {
                    let read = try await store.fanOut(limit: 1000, now: clock.now)
                    if read > 0 { readAhead.exhausted.removeAll() }
                    guard read == 1000 else { break }
                    batches += 1
                    if batches == 16 {
                        hasNewEvents.store(true, ordering: .relaxed)
                        break
                    }
                }
            }
            if endpointsAreStale.exchange(false, ordering: .relaxed) {
                let endpoints = try await store.endpoints()
                subscribeOutcomeEvents(endpoints)
                let enabled = endpoints.filter(\.isEnabled)
                endpointCache.withLock { $0 = enabled }
                // What was read ahead for an endpoint no longer enabled (or gone) is dropped.
                let enabledIDs = Set(enabled.map(\.id))
                readAhead.queues = readAhead.queues.filter { enabledIDs.contains($0.key) }
            }
            let retryIsDue = soonestRetry.withLock { soonest -> Bool in
                guard let date = soonest, date <= clock.now else { return false }
                soonest = nil
                return true
            }
            if retryIsDue { readAhead.exhausted.removeAll() }
            let enabled = endpointCache.withLock { $0 }
            try await refill(&readAhead, endpoints: enabled)
            let rateLimitWait = start(from: &readAhead, endpoints: enabled, group: &group)
            // Sooner than the poll interval when a retry falls due, or a rate-limited endpoint gets a token, before it.
            var wait = settings.pollInterval
            if let rateLimitWait { wait = min(wait, max(rateLimitWait, .milliseconds(5))) }
            if let soonest = soonestRetry.withLock({ $0 }) {
                wait = min(wait, .milliseconds(max(10, Int64(soonest.timeIntervalSince(clock.now) * 1000))))
            }
            // With requests in flight, their completions wake the worker; only an idle one needs the next due date.
            let isIdle = inFlight.withLock { $0.ids.isEmpty } && readAhead.queues.values.allSatisfy(\.isEmpty)
            if isIdle, let next = try await store.nextDueDate(endpointIDs: enabled.map(\.id)) {
                let seconds = next.timeIntervalSince(clock.now)
                if seconds < wait.seconds {
                    wait = .milliseconds(max(10, Int64(seconds * 1000)))
                }
            }
            return wait
        } catch is CancellationError {
            // Shutting down: nothing failed.
        } catch {
            // Everything is looked at again on the next pass.
            hasNewEvents.store(true, ordering: .relaxed)
            endpointsAreStale.store(true, ordering: .relaxed)
            readAhead.removeAll()
            logger.error("event webhooks: store failed; retrying", metadata: ["error": "\(error)"])
        }
        return settings.pollInterval
    }

    /// Reads due deliveries for each enabled endpoint whose queue holds less than it may have in flight, up to twice
    /// that, skipping what is queued or in flight already. An endpoint that had nothing more due is read again only
    /// after new events were fanned out, a retry fell due, or the poll interval passed.
    private func refill(_ readAhead: inout ReadAhead, endpoints: [EventEndpoint]) async throws {
        let batch = 2 * settings.maxInFlightPerEndpoint
        var limits: [String: Int] = [:]
        for endpoint in endpoints where !readAhead.exhausted.contains(endpoint.id) {
            let queued = readAhead.queues[endpoint.id]?.count ?? 0
            if queued < settings.maxInFlightPerEndpoint { limits[endpoint.id] = batch - queued }
        }
        guard !limits.isEmpty else { return }
        // Per endpoint, only its own: the store's query for one endpoint cannot return another's rows.
        var excluded = inFlight.withLock { state in
            Dictionary(uniqueKeysWithValues: limits.keys.map { ($0, state.byEndpoint[$0] ?? []) })
        }
        for endpointID in limits.keys { excluded[endpointID]?.formUnion(readAhead.queuedIDs(of: endpointID)) }
        let due = try await store.dueDeliveries(limits: limits, now: clock.now, excluding: excluded)
        var read: [String: Int] = [:]
        for item in due where !(excluded[item.delivery.endpointID]?.contains(item.delivery.id) ?? false) {
            readAhead.queues[item.delivery.endpointID, default: CircularBuffer()].append(item)
            read[item.delivery.endpointID, default: 0] += 1
        }
        for (endpointID, limit) in limits where read[endpointID, default: 0] < limit {
            readAhead.exhausted.insert(endpointID)
        }
    }

    /// Starts queued deliveries, one endpoint after another in turn, while the global and per-endpoint in-flight
    /// limits and the endpoints' rate limits allow. Returns how long until a rate-limited endpoint has a token.
    private func start(from readAhead: inout ReadAhead, endpoints: [EventEndpoint], group: inout DiscardingTaskGroup) -> Duration? {
        var rateLimitWait: Duration?
        var candidates = endpoints.filter { !(readAhead.queues[$0.id]?.isEmpty ?? true) }
        while !candidates.isEmpty {
            var stillOpen: [EventEndpoint] = []
            for endpoint in candidates {
                guard let item = readAhead.queues[endpoint.id]?.first else { continue }
                let admitted = inFlight.withLock { state -> Bool? in
                    guard state.ids.count < settings.concurrency else { return nil }
                    guard (state.byEndpoint[endpoint.id]?.count ?? 0) < settings.maxInFlightPerEndpoint,
                          allowedByRateLimit(endpoint, rateLimitWait: &rateLimitWait)
                    else { return false }
                    state.ids.insert(item.delivery.id)
                    state.byEndpoint[endpoint.id, default: []].insert(item.delivery.id)
                    return true
                }
                guard let admitted else { return rateLimitWait }  // every slot is taken
                guard admitted else { continue }
                readAhead.queues[endpoint.id]?.removeFirst()
                group.addTask { await self.deliver(item, to: endpoint) }
                if !(readAhead.queues[endpoint.id]?.isEmpty ?? true) { stillOpen.append(endpoint) }
            }
            candidates = stillOpen
        }
        return rateLimitWait
    }

    /// Takes a token from the endpoint's bucket (none: no limit). When the bucket is empty, how long until its next
    /// token is kept in `rateLimitWait`, so the worker looks again then rather than at its poll interval.
    private func allowedByRateLimit(_ endpoint: EventEndpoint, rateLimitWait: inout Duration?) -> Bool {
        guard let limit = endpoint.rateLimit else { return true }
        let limiter = rateLimiters.withLock { limiters -> TokenBucketRateLimiter? in
            if let existing = limiters[endpoint.id], existing.limit == limit { return existing.limiter }
            // A limit of 1...100 000 per second is a valid configuration, so this cannot fail.
            guard let limiter = try? TokenBucketRateLimiter(configuration: .init(limit: limit, period: .seconds(1), burst: limit)) else {
                return nil
            }
            limiters[endpoint.id] = (limit, limiter)
            return limiter
        }
        guard let limiter else { return true }
        switch limiter.acquire(key: endpoint.id, now: clock.instant) {
        case .allowed: return true
        case .limited(let retryAfter):
            rateLimitWait = min(rateLimitWait ?? retryAfter, retryAfter)
            return false
        }
    }

    /// One delivery: the breaker, the request, and its outcome written.
    private func deliver(_ due: DueEventDelivery, to endpoint: EventEndpoint) async {
        defer {
            inFlight.withLock { state in
                state.ids.remove(due.delivery.id)
                state.byEndpoint[endpoint.id]?.remove(due.delivery.id)
            }
            wakeup.signal()
        }
        let delivery = due.delivery
        let prepared = sender.prepare(endpoint)
        let breaker = breakers?.breaker(for: prepared.breakerKey)
        if let breaker, case .denied(let retryAfter) = breaker.canAttempt(now: clock.instant) {
            let until = clock.now.addingTimeInterval(max(retryAfter.seconds, 0.01))
            deliveryCounters([("endpoint", endpoint.id), ("outcome", "deferred")]).increment()
            await write(EventDeliveryOutcome(deliveryID: delivery.id, endpointID: endpoint.id, change: .deferred(until: until), attempt: nil))
            return
        }
        let startedAt = clock.now
        let started = ContinuousClock.now
        let result = await sender.send(due, to: prepared, at: startedAt)
        let elapsed = ContinuousClock.now - started
        durationTimers([("endpoint", endpoint.id)]).recordNanoseconds(elapsed.nanosecondsClamped)
        let attempt = EventDeliveryAttempt(
            number: delivery.attemptCount + 1, startedAt: startedAt, statusCode: result.statusCode,
            durationMilliseconds: elapsed.seconds * 1000, error: result.error, responseExcerpt: result.excerpt
        )
        let change: EventDeliveryOutcome.Change
        let outcome: String
        if result.isSuccess {
            breaker?.recordSuccess()
            (change, outcome) = (.delivered, "delivered")
        } else if result.statusCode == 410 {
            (change, outcome) = (.gone, "gone")
        } else {
            if result.countsAgainstBreaker { breaker?.recordFailure(now: clock.instant) }
            var generator = SystemRandomNumberGenerator()
            if let next = schedule.nextAttempt(
                afterFailedAttempt: delivery.scheduleStep + 1, now: clock.now, retryAfter: result.retryAfter, using: &generator
            ) {
                (change, outcome) = (.retry(at: next), "retrying")
            } else {
                (change, outcome) = (.failed, "failed")
            }
            logger.debug("event delivery failed", metadata: [
                "endpoint": "\(endpoint.id)", "delivery": "\(delivery.id)", "error": "\(result.error ?? "")",
            ])
        }
        deliveryCounters([("endpoint", endpoint.id), ("outcome", outcome)]).increment()
        await write(EventDeliveryOutcome(deliveryID: delivery.id, endpointID: endpoint.id, change: change, attempt: attempt))
    }

    /// Keeps the earliest retry written, so that its endpoint is read again when it falls due.
    private func noteRetry(at date: Date) {
        soonestRetry.withLock { soonest in soonest = min(soonest ?? date, date) }
    }

    /// Writes an outcome, trying again while the store fails (the delivery stays in flight meanwhile, so it is not
    /// sent twice); given up only at shutdown, when the row stays pending and is sent again after the restart.
    private func write(_ outcome: EventDeliveryOutcome) async {
        var delay = Duration.milliseconds(50)
        while true {
            do {
                let disabledAnEndpoint = try await outcomes.submit(outcome)
                switch outcome.change {
                case .retry(let date), .deferred(let date): noteRetry(at: date)
                case .delivered, .failed, .gone: break
                }
                if disabledAnEndpoint { noteEndpointsChanged() }
                return
            } catch {
                logger.error("event webhooks: could not record an outcome; retrying", metadata: ["error": "\(error)"])
                if isStopping.load(ordering: .relaxed) { return }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}

/// Builds, signs and sends one event webhook request.
struct EventWebhookSender: Sendable {
    let httpClient: HTTPClient
    let addressGuard: EndpointAddressGuard
    let timeout: Duration
    let excerptBytes: Int
    private let prepared = PreparedEndpoints()

    init(httpClient: HTTPClient, addressGuard: EndpointAddressGuard, timeout: Duration, excerptBytes: Int) {
        self.httpClient = httpClient
        self.addressGuard = addressGuard
        self.timeout = timeout
        self.excerptBytes = excerptBytes
    }

    /// The most of a response body read at all; the rest is not waited for.
    static let maximumBodyBytes = 64 * 1024

    struct Result: Sendable {
        var statusCode: Int?
        var error: String?
        var excerpt: String?
        var retryAfter: Duration?

        var isSuccess: Bool { statusCode.map { (200..<300).contains($0) } ?? false }
        /// Network errors, timeouts, 429 and 5xx say the receiver is unwell; other statuses are its verdict on one
        /// request.
        var countsAgainstBreaker: Bool {
            guard let statusCode else { return error != nil }
            return statusCode == 429 || statusCode >= 500
        }
    }

    /// The request body: `{"type": ..., "timestamp": ..., "data": ...}` around the event's stored payload.
    static func body(type: String, createdAt: Date, payload: Data) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(payload.count + type.utf8.count + 64)
        buffer.writeString(#"{"type":""#)
        buffer.writeString(type)
        buffer.writeString(#"","timestamp":""#)
        buffer.writeString(Timestamp.rfc3339Milliseconds(createdAt))
        buffer.writeString(#"","data":"#)
        buffer.writeBytes(payload)
        buffer.writeString("}")
        return buffer
    }

    /// What requests to `endpoint` share: made once per version of its URL, headers and secrets.
    func prepare(_ endpoint: EventEndpoint) -> PreparedEndpoint {
        prepared.prepared(endpoint, guard: addressGuard)
    }

    func send(_ due: DueEventDelivery, to endpoint: PreparedEndpoint, at now: Date) async -> Result {
        let refusal: EndpointAddressGuard.Refusal?
        if let kept = endpoint.addressCheck {
            refusal = kept
        } else {
            refusal = await addressGuard.check(endpoint.url)
        }
        if let refusal { return Result(error: "refused by the SSRF guard: url \(refusal.message)") }
        let body = Self.body(type: due.delivery.eventType, createdAt: due.eventCreatedAt, payload: due.payload)
        let timestamp = Int64(now.timeIntervalSince1970)
        let signature: String
        switch endpoint.signer(at: now) {
        case .success(let signer):
            signature = signer.signature(id: due.delivery.webhookID, timestamp: timestamp, body: body.readableBytesView)
        case .failure(let error):
            return Result(error: "the endpoint's secret cannot sign: \(error.message)")
        }
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        for (name, value) in endpoint.headers {
            request.headers.add(name: name, value: value)
        }
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "MessageBridge/\(MessageBridgeVersion.current)")
        request.headers.add(name: "webhook-id", value: due.delivery.webhookID)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: signature)
        request.body = .bytes(body)
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .nanoseconds(timeout.nanosecondsClamped))
        } catch {
            return Result(error: HTTPSink.classify(error).message)
        }
        let status = Int(response.status.code)
        var collected: [UInt8] = []
        var read = 0
        do {
            for try await chunk in response.body {
                read += chunk.readableBytes
                if collected.count < excerptBytes {
                    collected.append(contentsOf: chunk.readableBytesView.prefix(excerptBytes - collected.count))
                }
                if read >= Self.maximumBodyBytes { break }
            }
        } catch {
            // A body cut short still leaves the status, which is what decides the outcome.
        }
        let excerpt = collected.isEmpty ? nil : String(decoding: collected, as: UTF8.self)
        let retryAfter = response.headers.first(name: "Retry-After").flatMap(HTTPSink.parseRetryAfter)
        let isSuccess = (200..<300).contains(status)
        return Result(
            statusCode: status, error: isSuccess ? nil : "HTTP \(status)", excerpt: excerpt,
            retryAfter: isSuccess ? nil : retryAfter
        )
    }
}

/// An endpoint as its requests need it: the signers for its secrets, its headers in order, its breaker's key, and
/// the SSRF guard's answer when its host is an address (a name is resolved before each request).
struct PreparedEndpoint: Sendable {
    let source: EventEndpoint
    let breakerKey: String
    let headers: [(String, String)]
    /// Set when the answer cannot change: the URL is malformed, or its host is an address.
    let addressCheck: EndpointAddressGuard.Refusal??
    private let currentSigner: Swift.Result<StandardWebhookSigner, SigningSecretError>
    /// Signs with the previous secret too, while its grace lasts.
    private let rotationSigner: Swift.Result<StandardWebhookSigner, SigningSecretError>?

    var url: String { source.url }

    init(_ endpoint: EventEndpoint, guard addressGuard: EndpointAddressGuard) {
        source = endpoint
        breakerKey = DeliveryDispatcher.breakerKey(for: .http(url: endpoint.url))
        headers = endpoint.headers.sorted { $0.key < $1.key }
        addressCheck = addressGuard.checkWithoutResolving(endpoint.url)
        currentSigner = Swift.Result { () throws(SigningSecretError) in try StandardWebhookSigner(secrets: [endpoint.secret]) }
        rotationSigner = endpoint.previousSecret.map { previous in
            Swift.Result { () throws(SigningSecretError) in try StandardWebhookSigner(secrets: [endpoint.secret, previous]) }
        }
    }

    /// The signer for the secrets that sign at `now` (``EventEndpoint/signingSecrets(at:)``).
    func signer(at now: Date) -> Swift.Result<StandardWebhookSigner, SigningSecretError> {
        if let rotationSigner, source.signingSecrets(at: now).count == 2 { return rotationSigner }
        return currentSigner
    }

    /// Whether this was made from `endpoint` as it is now (what a request uses of it is unchanged).
    func isCurrent(for endpoint: EventEndpoint) -> Bool {
        source.url == endpoint.url && source.headers == endpoint.headers && source.secret == endpoint.secret
            && source.previousSecret == endpoint.previousSecret && source.previousSecretExpiresAt == endpoint.previousSecretExpiresAt
    }
}

/// Prepared endpoints by id, remade when an endpoint's URL, headers or secrets change.
final class PreparedEndpoints: Sendable {
    private let byID = Mutex<[String: PreparedEndpoint]>([:])

    func prepared(_ endpoint: EventEndpoint, guard addressGuard: EndpointAddressGuard) -> PreparedEndpoint {
        if let kept = byID.withLock({ $0[endpoint.id] }), kept.isCurrent(for: endpoint) { return kept }
        let made = PreparedEndpoint(endpoint, guard: addressGuard)
        byID.withLock { $0[endpoint.id] = made }
        return made
    }
}
