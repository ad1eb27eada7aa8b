import Foundation
import Logging
import ServiceLifecycle

/// Logs a warning for every active API key that expires within `window`: at start and then every `interval`
/// (daily), so an operator sees it coming in the logs before clients start getting 401s.
public struct APIKeyExpiryWarningService: Service {
    let keys: APIKeyManager
    let logger: Logger
    let window: Duration
    let interval: Duration

    /// Warns about keys expiring within `window` (7 days), every `interval` (a day).
    public init(keys: APIKeyManager, logger: Logger, window: Duration = .seconds(7 * 86_400), interval: Duration = .seconds(86_400)) {
        self.keys = keys
        self.logger = logger
        self.window = window
        self.interval = interval
    }

    /// Warns now, then every `interval` until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.warn()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// Logs the keys expiring soon (at `now`, or the key manager's clock when nil); returns how many there were.
    @discardableResult
    public func warn(now: Date? = nil) async -> Int {
        do {
            let expiring = try await keys.keysExpiringSoon(within: window, now: now)
            for key in expiring {
                logger.warning("API key expires soon", metadata: [
                    "key_id": "\(key.id)",
                    "key_name": "\(key.name)",
                    "key_prefix": "\(key.displayPrefix)",
                    "expires_at": "\(key.expiresAt.map(RFC3339.string) ?? "")",
                ])
            }
            return expiring.count
        } catch is CancellationError {
            return 0  // the server is stopping: nothing went wrong
        } catch {
            logger.error("cannot check API key expiry", metadata: ["error": "\(error)"])
            return 0
        }
    }
}
