import Foundation

/// Why a chat operation was refused. The HTTP and WebSocket layers turn it into a status and a JSON error.
public struct ChatError: Error, Sendable, Equatable {
    /// The closed set of reasons, safe as a metric label.
    public enum Code: String, Sendable {
        /// No such user, room or message, or one the caller may not see.
        case notFound = "not_found"
        /// The caller may see it but not do this.
        case forbidden
        /// A unique name or address is taken, or the state does not allow it (already a member, ...).
        case conflict
        /// A field's value is not acceptable.
        case invalid = "invalid_field"
    }

    /// The reason.
    public var code: Code
    /// The request field at fault, when one is.
    public var field: String?
    /// A sentence for the client.
    public var message: String

    /// Makes an error.
    public init(_ code: Code, field: String? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    /// The room does not exist, or is private and the caller is not in it (the two look the same).
    public static func roomNotFound(_ id: Int64) -> ChatError { ChatError(.notFound, "no room \(id)") }
    /// The message does not exist or is in a room the caller may not see.
    public static func messageNotFound(_ id: Int64) -> ChatError { ChatError(.notFound, "no message \(id)") }
    /// The user does not exist.
    public static func userNotFound(_ id: Int64) -> ChatError { ChatError(.notFound, "no user \(id)") }
}

/// A new account.
public struct NewChatUser: Sendable {
    /// Login name.
    public var username: String
    /// Address.
    public var email: String
    /// The bcrypt hash of the password; nil for accounts made by a trusted backend (seed 004's `POST /users`),
    /// which cannot log in until a password is set.
    public var passwordHash: String?
    /// Shown name.
    public var displayName: String?
    /// For `registration: invite`: the SHA-256 (hex) of the invite code, consumed in the same transaction.
    public var inviteCodeHash: String?

    /// Makes a new-account value.
    public init(username: String, email: String, passwordHash: String?, displayName: String? = nil, inviteCodeHash: String? = nil) {
        self.username = username
        self.email = email
        self.passwordHash = passwordHash
        self.displayName = displayName
        self.inviteCodeHash = inviteCodeHash
    }
}

/// One refresh token as the store keeps it: only its id (the JWT's `jti`), never the token.
public struct RefreshTokenRecord: Sendable, Equatable {
    /// The token's `jti`.
    public var id: String
    /// The login session it belongs to; rotation keeps the family, reuse revokes it.
    public var family: String
    /// Whose session.
    public var userID: Int64
    /// When it stops being accepted.
    public var expiresAt: Date

    /// Makes a record.
    public init(id: String, family: String, userID: Int64, expiresAt: Date) {
        self.id = id
        self.family = family
        self.userID = userID
        self.expiresAt = expiresAt
    }
}

/// What presenting a refresh token did.
public enum RefreshRotation: Sendable, Equatable {
    /// It was current: it is used up now and `next` replaces it.
    case rotated(userID: Int64)
    /// It had been used before: a stolen copy is in play, so its whole family is revoked now.
    case reuseDetected
    /// Unknown, revoked (logout, password change) or expired.
    case rejected
}

/// Where to read a room's history from.
public enum HistoryCursor: Sendable, Equatable {
    /// The newest messages.
    case latest
    /// Messages older than this id.
    case before(Int64)
    /// Messages newer than this id.
    case after(Int64)
    /// Messages around this id (it included), half before and half after.
    case around(Int64)
}

/// Counts for seed 004's `GET /stats`.
public struct ChatCounts: Sendable, Equatable {
    /// Accounts.
    public var users: Int
    /// Rooms, direct rooms included.
    public var rooms: Int
    /// Messages that are not deleted.
    public var messages: Int

    /// Makes counts.
    public init(users: Int, rooms: Int, messages: Int) {
        self.users = users
        self.rooms = rooms
        self.messages = messages
    }
}

/// One search result: the message and a snippet of its content around the match, the matches between the
/// markers U+0001 and U+0002.
public struct SearchHit: Sendable, Equatable {
    /// The message.
    public var message: ChatMessage
    /// Up to a dozen words around the match.
    public var snippet: String

    /// Makes a hit.
    public init(message: ChatMessage, snippet: String) {
        self.message = message
        self.snippet = snippet
    }
}

/// A message send: its result, and whether it repeated an earlier send with the same `client_id`.
public struct SentMessage: Sendable, Equatable {
    /// The message as stored (the first one, for a repeated send).
    public var message: ChatMessage
    /// The position of its `message.created` event.
    public var position: Int64?
    /// True when this send repeated one already stored: nothing new was written.
    public var isRepeat: Bool

    /// Makes a result.
    public init(message: ChatMessage, position: Int64?, isRepeat: Bool) {
        self.message = message
        self.position = position
        self.isRepeat = isRepeat
    }
}

/// The chat state (accounts, refresh-token families, rooms, members, messages) and its event log.
///
/// Every write that a user can observe also appends its events to the log, in the same transaction, through the
/// same group-committed writer as webhook ingest; a write returns once it is durable, and its events reach the
/// store's ``ChatEventBus`` in position order after the commit.
public protocol ChatStore: Sendable {
    // MARK: Accounts

    /// Makes an account (and, for seed 004's default room, adds it to `general`). Conflict when the username or
    /// email is taken; not found when an invite code is required and unknown or used.
    func createUser(_ user: NewChatUser) async throws -> ChatUser
    /// One account.
    func user(id: Int64) async throws -> ChatUser?
    /// The account whose username or email is `login` (case-insensitive), with its password hash.
    func credentials(login: String) async throws -> (user: ChatUser, passwordHash: String?)?
    /// Accounts by id, `limit` after `offset`.
    func users(limit: Int, offset: Int) async throws -> [ChatUser]
    /// Changes the display name.
    func updateDisplayName(userID: Int64, displayName: String?) async throws -> ChatUser
    /// Replaces the password hash and revokes every refresh family but `keepingFamily`.
    func changePassword(userID: Int64, passwordHash: String, keepingFamily: String?) async throws
    /// Stores an invite code's hash.
    func createInvite(codeHash: String) async throws

    // MARK: Refresh tokens

    /// Remembers a newly issued refresh token.
    func storeRefreshToken(_ record: RefreshTokenRecord) async throws
    /// Uses up the token `id` and stores `next` in its family, or, if `id` was used before, revokes the family.
    func rotateRefreshToken(id: String, next: RefreshTokenRecord) async throws -> RefreshRotation
    /// Forgets refresh tokens that expired before `cutoff` (refused anyway), and the families left without a token;
    /// returns how many tokens went.
    func purgeRefreshTokens(expiredBefore cutoff: Date) async throws -> Int
    /// Revokes a family (logout).
    func revokeRefreshFamily(_ family: String, userID: Int64) async throws

    // MARK: Rooms and members

    /// Makes a room owned by `creator`.
    func createRoom(name: String, topic: String?, visibility: RoomVisibility, creator: Int64) async throws -> ChatRoom
    /// The direct room of two users, made the first time it is asked for.
    func directRoom(between first: Int64, and second: Int64) async throws -> ChatRoom
    /// The room, if `userID` may see it (public, or a member), and the user's role in it.
    func room(id: Int64, visibleTo userID: Int64) async throws -> (room: ChatRoom, role: MemberRole?)
    /// The rooms `userID` is a member of, each with its last message and unread count, most recently active first.
    func rooms(of userID: Int64) async throws -> [RoomSummary]
    /// Public rooms anyone may join.
    func publicRooms(limit: Int) async throws -> [ChatRoom]
    /// Changes name or topic (owner or admin).
    func updateRoom(id: Int64, actor: Int64, name: String?, topic: String??) async throws -> ChatRoom
    /// Joins a public room.
    func join(roomID: Int64, userID: Int64) async throws -> RoomMember
    /// Adds `userID` with `role` (the actor must moderate; only an owner makes owners).
    func addMember(roomID: Int64, actor: Int64, userID: Int64, role: MemberRole) async throws -> RoomMember
    /// Changes a member's role (owner only).
    func setRole(roomID: Int64, actor: Int64, userID: Int64, role: MemberRole) async throws -> RoomMember
    /// Removes a member (a moderator removing someone, or anyone removing themselves).
    func removeMember(roomID: Int64, actor: Int64, userID: Int64) async throws
    /// The members of a room the caller may see.
    func members(roomID: Int64, visibleTo userID: Int64) async throws -> [RoomMember]
    /// The id of the default room (`general`), made when missing.
    func defaultRoomID() async throws -> Int64

    // MARK: Messages

    /// Stores a message from a member; a repeated `clientID` of the same author returns the first result.
    /// `attachmentIDs` are the author's unsent uploads to this room, sent with it.
    func sendMessage(
        roomID: Int64, authorID: Int64, content: String, clientID: String?, replyTo: Int64?, attachmentIDs: [Int64]
    ) async throws -> SentMessage
    /// Records a file already written durably under `storageName`, uploaded by a member of the room.
    func createAttachment(
        roomID: Int64, userID: Int64, filename: String, contentType: String, size: Int64, sha256: String, storageName: String
    ) async throws -> ChatAttachment
    /// Forgets attachments whose message was deleted before `cutoff`, and uploads never sent that were made before
    /// it; returns their storage names, whose files the caller removes.
    func purgeAttachments(before cutoff: Date) async throws -> [String]
    /// An attachment the caller may see (a member of its room), and where its bytes are.
    func attachment(id: Int64, visibleTo userID: Int64) async throws -> (attachment: ChatAttachment, storageName: String)
    /// Replaces the content (author only).
    func editMessage(id: Int64, actor: Int64, content: String) async throws -> ChatMessage
    /// Deletes softly (author, or a room owner or admin).
    func deleteMessage(id: Int64, actor: Int64) async throws -> ChatMessage
    /// One message the caller may see.
    func message(id: Int64, visibleTo userID: Int64) async throws -> ChatMessage
    /// A page of a room's history, oldest first.
    func history(roomID: Int64, visibleTo userID: Int64, cursor: HistoryCursor, limit: Int) async throws -> [ChatMessage]
    /// Seed 004's `GET /messages`: the default room's newest messages, newest first, `limit` after `offset`.
    func defaultRoomMessages(limit: Int, offset: Int) async throws -> [ChatMessage]

    // MARK: Reactions and receipts

    /// Adds `emoji` from `userID` to a message (a member's, once per user and emoji: again is a no-op).
    func addReaction(messageID: Int64, userID: Int64, emoji: String) async throws -> ChatMessage
    /// Takes it back (not there: a no-op).
    func removeReaction(messageID: Int64, userID: Int64, emoji: String) async throws -> ChatMessage
    /// Marks the room read up to `messageID` (never backwards) and returns the member's receipt.
    func markRead(roomID: Int64, userID: Int64, messageID: Int64) async throws -> ReadReceipt
    /// Every member's read position in a room the caller may see.
    func receipts(roomID: Int64, visibleTo userID: Int64) async throws -> [ReadReceipt]

    // MARK: Search

    /// Messages matching `query` in the rooms `userID` belongs to (or in `roomID`, if given and theirs), best first,
    /// `limit` after `offset`.
    func search(_ query: String, visibleTo userID: Int64, roomID: Int64?, limit: Int, offset: Int) async throws -> [SearchHit]

    // MARK: The event log

    /// Events after `position` that `userID` may see, in order, at most `limit`.
    func events(visibleTo userID: Int64, after position: Int64, limit: Int) async throws -> [ChatEvent]
    /// The newest position in the log (0 when empty).
    func headPosition() async throws -> Int64
    /// Every current membership, for the hub's cache.
    func memberships() async throws -> [(roomID: Int64, userID: Int64)]
    /// Counts for `/stats`.
    func counts() async throws -> ChatCounts
    /// A secret the server keeps for itself under `name` (a generated token key), made by `generate` the first
    /// time.
    func serverSecret(named name: String, generate: @escaping @Sendable () -> String) async throws -> String
}
