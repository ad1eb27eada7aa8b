import Core
import Foundation
import Synchronization

/// What this node has seen of each destination lately, for `/health` and `/status`.
final class DestinationHealth: Sendable {
    struct Entry: Sendable {
        var consecutiveFailures = 0
        var lastSuccessAt: Date?
        var lastFailureAt: Date?
        var lastError: String?
    }

    private let entries: Mutex<[String: Entry]>

    init(destinations: [Destination]) {
        entries = Mutex(Dictionary(destinations.map { ($0.description, Entry()) }, uniquingKeysWith: { first, _ in first }))
    }

    func record(_ result: DeliveryResult, for destination: Destination, at date: Date) {
        record(CollectionOfOne((destination, result)), at: date)
    }

    /// Records results in order under one lock; a batch's results mostly share one destination, whose entry is then
    /// looked up once per run rather than once per result.
    func record(_ results: some Sequence<(Destination, DeliveryResult)>, at date: Date) {
        entries.withLock { entries in
            var run: (destination: Destination, key: String)?
            var entry = Entry()
            for (destination, result) in results {
                if run?.destination != destination {
                    if let run { entries[run.key] = entry }
                    let key = destination.description
                    run = (destination, key)
                    entry = entries[key] ?? Entry()
                }
                switch result {
                case .delivered:
                    entry.consecutiveFailures = 0
                    entry.lastSuccessAt = date
                case .retryable(let error), .rejected(let error):
                    entry.consecutiveFailures += 1
                    entry.lastFailureAt = date
                    entry.lastError = error.description
                }
            }
            if let run { entries[run.key] = entry }
        }
    }

    var snapshot: [String: Entry] {
        entries.withLock { $0 }
    }
}
