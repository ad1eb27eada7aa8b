import Foundation

/// `auth:`: chat accounts and their tokens.
public struct AuthSettings: Sendable {
    /// Who may make an account.
    public enum Registration: String, Sendable, CaseIterable {
        /// Anyone.
        case open
        /// Only a trusted backend, with an admin API key.
        case closed
        /// Anyone holding an unused invite code (made with an admin API key).
        case invite
    }

    /// One HMAC key for tokens, named by its `kid`.
    public struct SigningKey: Sendable, Equatable {
        /// The key id written into each token's header.
        public var id: String
        /// The secret (at least 32 bytes).
        public var secret: String

        /// Makes a key.
        public init(id: String, secret: String) {
            self.id = id
            self.secret = secret
        }
    }

    /// Who may register; `open` by default.
    public var registration: Registration = .open
    /// The key access tokens are signed with. Nil: one is generated on first start and kept in the database, so
    /// tokens survive restarts without configuration.
    public var accessKey: SigningKey?
    /// The key refresh tokens are signed with. Nil: derived from the access key, so a refresh token never passes as
    /// an access token (they are also told apart by their `typ` claim).
    public var refreshKey: SigningKey?
    /// Older keys still accepted when verifying (rotation: add the new key as the signing key, keep the old one
    /// here until the tokens it signed have expired).
    public var verificationKeys: [SigningKey] = []
    /// How long an access token is valid; 15 minutes.
    public var accessTokenLifetime: Duration = .seconds(15 * 60)
    /// How long a refresh token is valid; 7 days.
    public var refreshTokenLifetime: Duration = .seconds(7 * 24 * 3600)
    /// bcrypt's cost factor (4...31); 12.
    public var bcryptCost: Int = 12
    /// Login attempts per client IP.
    public var loginLimitPerIP = RateLimitRule(limit: 20, period: .seconds(60), burst: 20)
    /// Login attempts per account (the username or email tried).
    public var loginLimitPerAccount = RateLimitRule(limit: 5, period: .seconds(60), burst: 5)

    /// Defaults: open registration, generated keys, 15-minute access and 7-day refresh tokens, bcrypt cost 12.
    public init() {}
}

/// `chat:`: rooms, messages and the `/ws` socket.
public struct ChatSettings: Sendable {
    /// Largest message content in bytes (UTF-8); more is 413. 16 KiB.
    public var maxMessageBytes: Int = 16 * 1024
    /// Events a socket may have waiting, beyond what its socket buffers hold, or while it is sent a backlog; a
    /// client that falls further behind is closed with 4008 and resumes with `since`. 1024.
    public var sendBufferEvents: Int = 1024
    /// Largest frame a client may send; a larger one gets an `error` event. 64 KiB.
    public var maxFrameBytes: Int = 64 * 1024
    /// How often the server pings an idle socket; a socket that does not answer in time is closed. 30 s.
    public var pingInterval: Duration = .seconds(30)
    /// How long a socket that connected without a token has to send its `auth` frame. 10 s.
    public var authTimeout: Duration = .seconds(10)
    /// Bad frames a socket may send before it is closed with 4002. 10.
    public var maxFrameErrors: Int = 10
    /// Largest uploaded file; more is 413. 10 MiB.
    public var maxAttachmentBytes: Int = 10 << 20
    /// Where uploaded files are kept; nil: `attachments/` beside the database file.
    public var attachmentsDirectory: String?
    /// How long the files of a deleted message (and uploads never sent) are kept before they are removed. 7 days.
    public var attachmentRetention: Duration = .seconds(7 * 86_400)

    /// Defaults as documented on each property.
    public init() {}
}
