import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Delivers messages by POSTing them to HTTP endpoints with AsyncHTTPClient.
///
/// The original body and content type are forwarded; `X-Webhook-ID`, `X-Webhook-Path`, `X-Webhook-Timestamp` and
/// `X-Webhook-Attempt` identify the message; of the other request headers only the credentials a route names in
/// `forward_credentials` go along (a receiver re-checking the sender's signature). 2xx is delivered; network errors, timeouts, 408, 429 and 5xx are
/// retryable; any other status is a permanent failure recorded with a body excerpt.
struct HTTPSink: DeliverySink {
    /// Per-endpoint limits.
    struct EndpointOptions: Sendable {
        var timeout: Duration
        /// Immediate extra tries inside one attempt, for network blips (`remote_url.retries`).
        var quickRetries: Int
    }

    let httpClient: HTTPClient
    let defaultOptions: EndpointOptions
    let optionsByURL: [String: EndpointOptions]
    /// Credential policies by route path: which stored credentials each route forwards.
    var credentials: [String: CredentialHeaders] = [:]

    static let bodyExcerptBytes = 512

    func deliver(_ message: NewMessage, attempt: Int, logger: Logger) async -> DeliveryResult {
        guard case .http(let url) = message.destination else {
            return .rejected(DeliveryError(reason: .internal, message: "HTTP sink got \(message.destination)"))
        }
        let options = optionsByURL[url] ?? defaultOptions
        var result = await post(message, to: url, attempt: attempt, timeout: options.timeout, logger: logger)
        var quickTry = 0
        while case .retryable(let error) = result, error.statusCode == nil, quickTry < options.quickRetries {
            quickTry += 1
            try? await Task.sleep(for: .milliseconds(100 << quickTry))
            if Task.isCancelled { break }
            result = await post(message, to: url, attempt: attempt, timeout: options.timeout, logger: logger)
        }
        return result
    }

    private func post(_ message: NewMessage, to url: String, attempt: Int, timeout: Duration, logger: Logger) async -> DeliveryResult {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: message.contentType ?? "application/octet-stream")
        request.headers.add(name: "User-Agent", value: "MessageBridge/\(MessageBridgeVersion.current)")
        request.headers.add(name: "X-Webhook-ID", value: message.id.rawValue)
        request.headers.add(name: "X-Webhook-Path", value: message.route)
        request.headers.add(name: "X-Webhook-Timestamp", value: String(Int64(message.acceptedAt.timeIntervalSince1970)))
        request.headers.add(name: "X-Webhook-Attempt", value: String(attempt))
        if let policy = credentials[message.route], !policy.forwarded.isEmpty {
            for header in message.headers where policy.isCredential(header.name) && policy.isKept(header.name) {
                request.headers.add(name: header.name, value: header.value)
            }
        }
        request.body = .bytes(message.body)
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .nanoseconds(timeout.nanosecondsClamped), logger: logger)
        } catch {
            return .retryable(Self.classify(error))
        }
        let status = Int(response.status.code)
        if (200..<300).contains(status) {
            // Read the body so the connection can go back to the pool; its content does not matter.
            _ = try? await response.body.collect(upTo: 1 << 20)
            return .delivered(statusCode: status)
        }
        let excerpt = await Self.excerpt(of: response.body)
        let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter)
        let error = DeliveryError(
            reason: status == 429 ? .http429 : status >= 500 ? .http5xx : .http4xx,
            message: "HTTP \(status)" + (excerpt.isEmpty ? "" : ": \(excerpt)"),
            statusCode: status,
            retryAfter: retryAfter
        )
        if status == 408 || status == 429 || status >= 500 {
            return .retryable(error)
        }
        return .rejected(error)
    }

    static func classify(_ error: any Error) -> DeliveryError {
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                return DeliveryError(reason: .timeout, message: "timed out: \(clientError)")
            default:
                return DeliveryError(reason: .connection, message: "\(clientError)")
            }
        }
        if error is CancellationError {
            return DeliveryError(reason: .cancelled, message: "delivery cancelled")
        }
        return DeliveryError(reason: .connection, message: "\(error)")
    }

    /// The first bytes of an error response, as text, for the attempt record.
    static func excerpt(of body: HTTPClientResponse.Body) async -> String {
        var collected: [UInt8] = []
        do {
            for try await chunk in body {
                collected.append(contentsOf: chunk.readableBytesView.prefix(bodyExcerptBytes - collected.count))
                if collected.count >= bodyExcerptBytes { break }
            }
        } catch {
            // A body cut short still leaves what was read, which is all the record needs.
        }
        return String(decoding: collected, as: UTF8.self)
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Duration? {
        if let seconds = Int(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 {
            return .seconds(min(seconds, 86_400))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        let seconds = date.timeIntervalSinceNow
        return seconds > 0 ? .milliseconds(Int64(min(seconds, 86_400) * 1000)) : nil
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to `Int64`.
    var nanosecondsClamped: Int64 {
        let parts = components
        let (whole, overflow) = parts.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole + parts.attoseconds / 1_000_000_000
    }
}
