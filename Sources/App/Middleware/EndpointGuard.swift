import Core
import Hummingbird

/// Access to an operations endpoint that shows more than liveness (`/metrics`, `/status`): `403 forbidden` outside
/// the allowed networks, then, when a key is required, the admin-or-read key check (401 or 403).
struct EndpointGuard: Sendable {
    let access: EndpointAccess
    let authenticator: APIKeyAuthenticator
    /// The configuration section that sets this access, for the 403 message: "metrics", "status".
    let section: String

    /// Throws the 401 or 403 for a request that may not read the endpoint.
    func check(_ request: Request, context: AppRequestContext) async throws {
        if !access.allow.isEmpty {
            let peer = context.remoteAddress?.ipAddress
            guard let peer, access.allow.contains(where: { $0.contains(peer) }) else {
                throw APIError(.forbidden, code: "forbidden", message: "\(section) is not served to this address (see \(section).allow)")
            }
        }
        if access.requiresAPIKey {
            try await authenticator.authenticate(request, context: context, allowed: [.admin, .read])
        }
    }
}
