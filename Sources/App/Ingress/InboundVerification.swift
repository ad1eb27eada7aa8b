import Core
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import WebhookSecurity

/// A route's checked verifier, built by the composition root from its `verify:` settings.
struct RouteVerification: Sendable {
    /// The verifier.
    let verifier: WebhookVerifier
    /// Its scheme, for logs and the `scheme` label of `messagebridge_signature_failures_total`.
    var scheme: VerificationScheme { verifier.scheme }

    init(_ verifier: WebhookVerifier) {
        self.verifier = verifier
    }
}

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
        let raw = settings.source.identity(body: body.readableBytesView) { name in HTTPField.Name(name).flatMap { headers[$0] } }
        guard let raw, !raw.isEmpty else { return nil }
        let value = raw.utf8.count <= maximumKeyLength ? raw : "sha256:" + APIKey.hash(raw)
        return DedupKey(value: value, expiresAt: acceptedAt.addingTimeInterval(settings.window.seconds))
    }
}
