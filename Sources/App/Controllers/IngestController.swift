import Core
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore

/// Accepts webhooks on the configured routes: stores each durably (group commit), answers 202 with its id, and
/// hands it to the dispatcher right after the commit.
struct IngestController {
    /// One configured route, resolved.
    struct Route: Sendable {
        var path: String
        var destination: Destination
        /// Signature check on the raw body before anything is stored (`verify:`).
        var verification: RouteVerification? = nil
        /// Idempotency key source and window (`dedup:`).
        var dedup: DedupSettings? = nil
        /// The credential headers dropped before the message is stored (all but those it forwards).
        var credentials: CredentialHeaders = .standard
        /// `messagebridge_messages_accepted_total{route}`, made once: looking a counter up costs a lock and a
        /// dictionary search in the metrics backend, on every request.
        var acceptedCounter: Counter

        init(
            path: String,
            destination: Destination,
            verification: RouteVerification? = nil,
            dedup: DedupSettings? = nil,
            credentials: CredentialHeaders = .standard
        ) {
            self.path = path
            self.destination = destination
            self.verification = verification
            self.dedup = dedup
            self.credentials = credentials
            self.acceptedCounter = Counter(label: "messagebridge_messages_accepted_total", dimensions: [("route", path)])
        }
    }

    let routes: [Route]
    let maxBodyBytes: Int
    /// Stores each accepted message durably and queues its delivery.
    let intake: DeliveryIntake
    /// Stamps acceptance times (and so dedup windows).
    let clock: any WallClock

    /// `POST` on each configured route path, mounted at the root.
    var endpoints: RouteCollection<AppRequestContext> {
        let router = RouteCollection(context: AppRequestContext.self)
        for route in routes {
            // Other methods answer 405 with `Allow: POST` (MethodNotAllowedMiddleware).
            router.post(RouterPath(route.path)) { request, context in
                try await accept(request, context: context, route: route)
            }
        }
        return router
    }

    func accept(_ request: Request, context: AppRequestContext, route: Route) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "request body of \(length) bytes exceeds the limit of \(maxBodyBytes) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "request body exceeds the limit of \(maxBodyBytes) bytes")
        } catch is NIOTooManyBytesError {
            // A chunked body has no Content-Length to check up front; it overflows while being read.
            throw APIError(.contentTooLarge, code: "payload_too_large", message: "request body exceeds the limit of \(maxBodyBytes) bytes")
        } catch {
            // The client sent a body the HTTP parser could not read (bad chunk framing, a connection cut short).
            throw APIError(.badRequest, code: "malformed_body", message: "the request body could not be read: it is not valid HTTP/1.1 framing")
        }
        if let verification = route.verification {
            try InboundVerification.verify(verification, body: buffer, headers: request.headers, route: route.path, context: context)
        }
        let acceptedAt = clock.now
        let dedupKey = route.dedup.flatMap {
            InboundVerification.dedupKey($0, body: buffer, headers: request.headers, acceptedAt: acceptedAt)
        }
        var headers: [MessageHeader] = []
        headers.reserveCapacity(request.headers.count)
        for field in request.headers where route.credentials.isKept(field.name.rawName) {
            // Credentials presented to MessageBridge (the key it checked, cookies, the signature) are not stored.
            headers.append(MessageHeader(name: field.name.rawName, value: field.value))
        }
        let message = NewMessage(
            id: MessageID.make(at: acceptedAt),
            route: route.path,
            destination: route.destination,
            body: Array(buffer.readableBytesView),
            headers: headers,
            acceptedAt: acceptedAt
        )
        let outcome: IngestOutcome
        do {
            outcome = try await intake.accept(message, dedup: dedupKey)
        } catch {
            context.logger.error("cannot store message", metadata: ["error": "\(error)", "route": "\(route.path)"])
            Counter(label: "messagebridge_store_failures_total").increment()
            throw APIError(.serviceUnavailable, code: "store_unavailable", message: "the message could not be stored durably; retry later")
        }
        if case .duplicate(let original, let originalAcceptedAt) = outcome {
            return duplicateResponse(original: original, acceptedAt: originalAcceptedAt, route: route, context: context)
        }
        route.acceptedCounter.increment()
        context.logger.debug("message accepted", metadata: ["message_id": "\(message.id)", "route": "\(route.path)"])
        let body = #"{"message_id":"\#(message.id.rawValue)","status":"accepted","timestamp":"\#(RFC3339.string(from: acceptedAt))"}"#
        return Response(
            status: .accepted,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }
}

extension IngestController {
    /// `200 {"message_id": "<original>", "status": "duplicate", "timestamp": "<original's>"}`: the key is taken, so
    /// nothing was stored or will be delivered again.
    func duplicateResponse(original: MessageID, acceptedAt: Date, route: Route, context: AppRequestContext) -> Response {
        Counter(label: "messagebridge_messages_duplicate_total", dimensions: [("route", route.path)]).increment()
        context.logger.debug("duplicate message", metadata: ["message_id": "\(original)", "route": "\(route.path)"])
        let body = #"{"message_id":"\#(original.rawValue)","status":"duplicate","timestamp":"\#(RFC3339.string(from: acceptedAt))"}"#
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }
}

