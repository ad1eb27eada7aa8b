import Metrics
import Synchronization

/// Metric handles made once per label set and reused.
///
/// `Counter(label:dimensions:)` asks the metrics backend for a handle each time (a lock and a dictionary search in
/// swift-prometheus, plus an allocation); the delivery path records several metrics per message, so it keeps its
/// handles here instead. Label values must stay bounded (routes, sink kinds, reason codes), as they must anyway.
final class MetricCache<Handle: Sendable>: Sendable {
    private let handles = Mutex<[String: Handle]>([:])
    private let make: @Sendable ([(String, String)]) -> Handle

    init(make: @escaping @Sendable ([(String, String)]) -> Handle) {
        self.make = make
    }

    /// The handle for these dimensions, made on first use.
    func callAsFunction(_ dimensions: [(String, String)]) -> Handle {
        let key = dimensions.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        if let handle = handles.withLock({ $0[key] }) { return handle }
        let handle = make(dimensions)
        return handles.withLock { handles in
            if let existing = handles[key] { return existing }
            handles[key] = handle
            return handle
        }
    }
}
