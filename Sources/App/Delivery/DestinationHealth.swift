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
        entries.withLock { entries in
            var entry = entries[destination.description] ?? Entry()
            switch result {
            case .delivered:
                entry.consecutiveFailures = 0
                entry.lastSuccessAt = date
            case .retryable(let error), .rejected(let error):
                entry.consecutiveFailures += 1
                entry.lastFailureAt = date
                entry.lastError = error.description
            }
            entries[destination.description] = entry
        }
    }

    var snapshot: [String: Entry] {
        entries.withLock { $0 }
    }
}
