import Core
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import Security

/// The ingest path's checks that run on the exact body bytes before anything is stored: the route's signature,
/// and the idempotency key its `dedup` settings name.
enum InboundVerification {
    /// Verifies the request's signature over `body`, or throws `401 signature_invalid` naming the failed check and
    /// counts it in `messagebridge_signature_failures_total{route,scheme}`.
    static func verify(
        _ verification: RouteVerification,
        body: ByteBuffer,
        headers: HTTPFields,
        route: String,
        context: AppRequestContext
    ) throws(APIError) {
        do {
            try verification.verifier.verify(
                body: body.readableBytesView,
                headers: { name in HTTPField.Name(name).flatMap { headers[$0] } }
            )
        } catch {
            Counter(
                label: "messagebridge_signature_failures_total",
                dimensions: [("route", route), ("scheme", verification.scheme.rawValue)]
            ).increment()
            context.logger.notice("signature rejected", metadata: [
                "route": "\(route)", "scheme": "\(verification.scheme.rawValue)", "check": "\(error.code)",
            ])
            throw APIError(.unauthorized, code: "signature_invalid", message: error.description)
        }
    }

    /// The longest key stored as written; longer ones are stored as their SHA-256, which keeps the index small
    /// and a hostile sender from filling it with megabyte keys.
    static let maximumKeyLength = 256

    /// The request's idempotency key under `settings`, or nil when the header or field is absent (the message is
    /// then stored without one).
    static func dedupKey(_ settings: DedupSettings, body: ByteBuffer, headers: HTTPFields, acceptedAt: Date) -> DedupKey? {
        let raw: String?
        switch settings.source {
        case .header(let name):
            raw = HTTPField.Name(name).flatMap { headers[$0] }?.trimmingCharacters(in: .whitespaces)
        case .jsonField(let path):
            raw = jsonValue(at: path, in: body)
        }
        guard let raw, !raw.isEmpty else { return nil }
        let value = raw.utf8.count <= maximumKeyLength ? raw : "sha256:" + APIKey.hash(raw)
        return DedupKey(value: value, expiresAt: acceptedAt.addingTimeInterval(settings.window.seconds))
    }

    /// A string or number at a dot path in a JSON object body, as text.
    static func jsonValue(at path: [String], in body: ByteBuffer) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed])
        else { return nil }
        var current: Any = object
        for component in path {
            guard let dictionary = current as? [String: Any], let next = dictionary[component] else { return nil }
            current = next
        }
        switch current {
        case let text as String: return text
        case let number as Int: return String(number)
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }
}
