import Core
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// The chat protocol of `/ws` sockets: sign-in, then the catch-up (backlog from `since`, then live events, merged
/// at the seam by position, again after each `resume`), then the client's frames (send, edit, delete, resume, ping).
/// Each socket's input arrives here in order, one at a time (``ChatSockets``); live events are written by the hub
/// on the socket's event loop (``ChatSocketOutbox``), so only sign-in, backlogs and replies pass through here.
///
/// The protocol state lives here; the hub only routes frames to outboxes, and the store only stores, so another
/// protocol (Socket.IO, Centrifugo) can be one more session type over the same hub and log.
struct ChatSocketSession: Sendable {
    let store: any ChatStore
    let hub: ChatHub
    let authenticator: ChatAuthenticator
    let settings: ChatSettings
    let input: ChatInput
    let clock: any WallClock
    /// Typing frames per socket and room: at most one per this interval is passed on; the rest are dropped.
    static let typingInterval: Duration = .seconds(1)

    /// Backlog events per store read.
    static let backlogPage = 500

    /// Where one socket is.
    enum SocketState: Sendable {
        case new
        /// Open with no token: its first frame must be an `auth` frame.
        case awaitingAuth(since: Int64?)
        case signedIn(SignedIn)
        case closed
    }

    struct SignedIn: Sendable {
        let userID: Int64
        let outbox: ChatSocketOutbox
        let logger: Logger
        /// Bad frames so far.
        var errors = 0
    }

    /// One input of `socket`: its opening, or a message from the client.
    func handle(_ input: ChatSocketInput, on socket: ChatSocket) async {
        switch (input, socket.state.withLock { $0 }) {
        case (.open(let token?, let since), _):
            await signIn(socket, token: token, since: since)
        case (.open(nil, let since), .new):
            // A browser cannot set a socket's headers: the token comes in the first frame, within `authTimeout`.
            socket.state.withLock { $0 = .awaitingAuth(since: since) }
            socket.close(after: settings.authTimeout, ChatCloseCode.unauthorized.rawValue, "no auth frame within \(settings.authTimeout)") {
                if case .awaitingAuth = socket.state.withLock({ $0 }) { return false }
                return true
            }
        case (.message(let message), .awaitingAuth(let since)):
            guard case .text(let text) = message, let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                return close(socket, .unauthorized, "the first frame must be a JSON auth frame")
            }
            guard case .object(let fields) = value, fields["type"] == .string("auth"), case .string(let token)? = fields["token"] else {
                return close(socket, .unauthorized, "the first frame must be {\"type\":\"auth\",\"token\":...}")
            }
            if case .integer(let position)? = fields["since"] {
                await signIn(socket, token: token, since: position)
            } else {
                await signIn(socket, token: token, since: since)
            }
        case (.message(let message), .signedIn(let signedIn)):
            await receive(message, on: socket, signedIn)
        case (.open, _), (.message, .new), (.message, .closed):
            break
        }
    }

    /// `socket` has closed (on its event loop): its outbox stops receiving, and its user may go offline.
    func closed(_ socket: ChatSocket) {
        let previous = socket.state.withLock { state in
            defer { state = .closed }
            return state
        }
        if case .signedIn(let signedIn) = previous { hub.unregister(signedIn.outbox, now: clock.now) }
    }

    /// Checks the token, attaches the socket's outbox to the hub and sends the backlog from `since` (or, without
    /// it, starts at the log's head).
    private func signIn(_ socket: ChatSocket, token: String, since: Int64?) async {
        let userID: Int64
        do {
            guard case .user(let id, _) = try await authenticator.user(token: token) else {
                return close(socket, .unauthorized, "sign in with a user's access token")
            }
            userID = id
        } catch {
            return close(socket, .unauthorized, (error as? APIError)?.message ?? "unauthorized")
        }
        let logger = {
            var logger = socket.logger
            logger[metadataKey: "user_id"] = "\(userID)"
            return logger
        }()

        // Without `since`, the socket starts at the log's head as it is now, read before registering: whatever is
        // committed after this read is either in the backlog (read after registering) or in the outbox.
        let start: Int64
        if let since {
            start = since
        } else {
            do {
                start = try await store.headPosition()
            } catch {
                logger.error("cannot read the event log", metadata: ["error": "\(error)"])
                return socket.close(1011, "retry later")
            }
        }
        // Registered before the backlog is read: every event committed from here on waits in the outbox, every
        // earlier one is in the backlog, and the outbox drops what it sees twice by position. Registered on the
        // socket's event loop while it is open, so that its closing (on the same loop) always unregisters it.
        let outbox: ChatSocketOutbox
        do {
            outbox = try await socket.onLoopWhileOpen { [hub, capacity = settings.sendBufferEvents] in
                let outbox = try ChatSocketOutbox.attach(
                    to: socket.channel, userID: userID, capacity: capacity, position: start,
                    onOverflow: { lastSent in
                        logger.notice("closing a socket that fell behind", metadata: ["position": "\(lastSent)"])
                        socket.close(ChatCloseCode.tooSlow.rawValue, "too far behind: reconnect with since=\(lastSent)")
                    }
                )
                socket.state.withLock { $0 = .signedIn(SignedIn(userID: userID, outbox: outbox, logger: logger)) }
                hub.register(outbox)
                return outbox
            }
        } catch {
            logger.debug("socket closed before it could be served", metadata: ["error": "\(error)"])
            return
        }
        // The backlog first; frames the client sends meanwhile wait.
        _ = await catchUp(outbox, since: start, ready: ChatFrames.ready(userID: userID, position: start), logger: logger)
    }

    private func close(_ socket: ChatSocket, _ code: ChatCloseCode, _ reason: String) {
        socket.close(code.rawValue, reason)
    }

    // MARK: Catch-up

    /// Writes `ready`, then every event after `position` the user may see, then what waited meanwhile; false when
    /// the socket is gone (or closing as too slow).
    private func catchUp(_ outbox: ChatSocketOutbox, since position: Int64, ready: String, logger: Logger) async -> Bool {
        do {
            try await outbox.beginCatchUp(ready: ByteBuffer(string: ready), position: position)
            try await sendBacklog(after: position, userID: outbox.userID, to: outbox)
            try await outbox.finishCatchUp()
            return true
        } catch {
            logger.debug("socket catch-up ended", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Writes every event after `position` the user may see, in pages, each page once the last is on its way.
    private func sendBacklog(after position: Int64, userID: Int64, to outbox: ChatSocketOutbox) async throws {
        var last = position
        while true {
            let events = try await store.events(visibleTo: userID, after: last, limit: Self.backlogPage)
            try await outbox.writeBacklog(events.map { ($0.position, ChatFrames.event($0)) })
            last = events.last?.position ?? last
            if events.count < Self.backlogPage { return }
        }
    }

    // MARK: Reader

    /// One frame from a signed-in client: its reply (an ack, or an `error` event naming the problem) queued after
    /// what the socket was sent before; after `maxFrameErrors` bad frames the socket closes with 4002.
    private func receive(_ message: WebSocketMessage, on socket: ChatSocket, _ signedIn: SignedIn) async {
        let reply: String?
        do {
            reply = try await handle(message, userID: signedIn.userID, outbox: signedIn.outbox, logger: signedIn.logger)
        } catch {
            let errors = socket.state.withLock { state -> Int in
                guard case .signedIn(var current) = state else { return 0 }
                current.errors += 1
                state = .signedIn(current)
                return current.errors
            }
            let (code, text) = Self.describe(error)
            signedIn.outbox.deliver(reply: ChatFrames.error(code: code, message: text, ref: Self.ref(of: message)))
            if errors >= settings.maxFrameErrors {
                // What is queued is sent, this error last; then the socket closes with 4002.
                signedIn.logger.notice("closing a socket after repeated bad frames", metadata: ["errors": "\(errors)"])
                close(socket, .tooManyErrors, "too many bad frames")
            }
            return
        }
        if let reply { signedIn.outbox.deliver(reply: reply) }
    }

    private static func describe(_ error: any Error) -> (code: String, message: String) {
        switch error {
        case let error as APIError: (error.code, error.message)
        case let error as ChatError: (APIError(error).code, error.message)
        default: ("internal_error", "the server could not do this; retry later")
        }
    }

    private static func ref(of message: WebSocketMessage) -> String? {
        guard case .text(let text) = message, let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
              case .object(let fields) = value, case .string(let ref)? = fields["ref"] ?? fields["client_id"]
        else { return nil }
        return ref
    }

    /// One client frame; returns the reply to queue, if any.
    private func handle(
        _ message: WebSocketMessage, userID: Int64, outbox: ChatSocketOutbox, logger: Logger
    ) async throws -> String? {
        guard case .text(let text) = message else {
            throw APIError(.badRequest, code: "invalid_frame", message: "frames must be JSON text, not binary")
        }
        guard text.utf8.count <= settings.maxFrameBytes else {
            throw APIError(.contentTooLarge, code: "frame_too_large", message: "frames are at most \(settings.maxFrameBytes) bytes")
        }
        let seedFields: Set<String> = ["user_id", "username", "content", "ref"]
        let probe = try JSONBody(data: Data(text.utf8), allowed: Self.allFields)
        let type = try probe.string("type")
        let ref = try probe.string("ref")
        switch type {
        case nil:
            // Seed 004's frame: {"user_id", "username", "content"}, posted to the default room as the token's user.
            let body = try JSONBody(data: Data(text.utf8), allowed: seedFields)
            _ = try body.string("username")
            if let claimed = try body.integer("user_id"), claimed != userID {
                throw APIError(.forbidden, code: "forbidden", message: "user_id must be your own (\(userID))")
            }
            let content = try input.content(try body.string("content", required: true)!)
            let room = try await store.defaultRoomID()
            let sent = try await store.sendMessage(roomID: room, authorID: userID, content: content, clientID: nil, replyTo: nil, attachmentIDs: [])
            return ChatFrames.ack(ref: ref, data: sent.message, position: sent.position, isRepeat: sent.isRepeat)
        case "send"?:
            let body = try JSONBody(data: Data(text.utf8), allowed: ["type", "ref", "room_id", "content", "client_id", "reply_to"])
            let roomID = try body.integer("room_id", required: true)!
            let content = try input.content(try body.string("content", required: true)!)
            let clientID = try ChatInput.clientID(try body.string("client_id"))
            let sent = try await store.sendMessage(
                roomID: roomID, authorID: userID, content: content, clientID: clientID, replyTo: try body.integer("reply_to"),
                attachmentIDs: []
            )
            return ChatFrames.ack(ref: ref ?? clientID, data: sent.message, position: sent.position, isRepeat: sent.isRepeat)
        case "edit"?:
            let body = try JSONBody(data: Data(text.utf8), allowed: ["type", "ref", "message_id", "content"])
            let content = try input.content(try body.string("content", required: true)!)
            let message = try await store.editMessage(id: try body.integer("message_id", required: true)!, actor: userID, content: content)
            return ChatFrames.ack(ref: ref, data: message)
        case "delete"?:
            let body = try JSONBody(data: Data(text.utf8), allowed: ["type", "ref", "message_id"])
            let message = try await store.deleteMessage(id: try body.integer("message_id", required: true)!, actor: userID)
            return ChatFrames.ack(ref: ref, data: message)
        case "react"?, "unreact"?:
            let body = try JSONBody(data: Data(text.utf8), allowed: ["type", "ref", "message_id", "emoji"])
            let messageID = try body.integer("message_id", required: true)!
            let emoji = try ChatInput.emoji(try body.string("emoji", required: true)!)
            let message = type == "react"
                ? try await store.addReaction(messageID: messageID, userID: userID, emoji: emoji)
                : try await store.removeReaction(messageID: messageID, userID: userID, emoji: emoji)
            return ChatFrames.ack(ref: ref, data: message)
        case "read"?:
            let body = try JSONBody(data: Data(text.utf8), allowed: ["type", "ref", "room_id", "message_id"])
            let receipt = try await store.markRead(
                roomID: try body.integer("room_id", required: true)!, userID: userID, messageID: try body.integer("message_id", required: true)!
            )
            return ChatFrames.ack(ref: ref, data: receipt)
        case "typing"?:
            let body = try JSONBody(data: Data(text.utf8), allowed: ["type", "ref", "room_id"])
            let roomID = try body.integer("room_id", required: true)!
            guard hub.isMember(userID, of: roomID) else { throw ChatError(.forbidden, "not a member of room \(roomID)") }
            // Never stored; limited per socket and room, the excess dropped (an indicator is best effort).
            let now = clock.instant
            if outbox.typingSent.withLock({ sent in
                if let last = sent[roomID], now - last < Self.typingInterval { return false }
                sent[roomID] = now
                return true
            }) {
                hub.broadcast(ChatFrames.typing(roomID: roomID, userID: userID), toRoom: roomID, except: userID)
            }
            return nil
        case "resume"?:
            let body = try JSONBody(data: Data(text.utf8), allowed: ["type", "ref", "since"])
            let since = try body.integer("since", required: true)!
            guard since >= 0 else { throw JSONBody.invalid("since", "must be a position (0 or more)") }
            // Where the resume takes effect: what was sent before this frame may come again after it.
            let ready = ChatFrames.ready(userID: userID, position: since, ref: ref)
            // A socket gone meanwhile ends the reader with its next frame.
            _ = await catchUp(outbox, since: since, ready: ready, logger: logger)
            return nil
        case "ping"?:
            return ChatFrames.pong(ref: ref)
        case "auth"?:
            throw APIError(.badRequest, code: "already_authenticated", message: "this socket is signed in already")
        case let other?:
            throw APIError(.badRequest, code: "unknown_type", message: "unknown frame type \(other); known: send, edit, delete, react, unreact, read, typing, resume, ping")
        }
    }

    private static let allFields: Set<String> = [
        "type", "ref", "room_id", "content", "client_id", "reply_to", "message_id", "since", "user_id", "username", "token", "emoji",
    ]
}
