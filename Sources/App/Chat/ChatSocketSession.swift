import Core
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// One `/ws` connection: authentication, then the catch-up (backlog from `since`, then live events, merged at the
/// seam by position, again after each `resume`) beside the reader (frames from the client: send, edit, delete,
/// resume, ping). Live events are written by the hub on the socket's event loop (``ChatSocketOutbox``); this task
/// only writes backlogs and closes the socket.
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

    func run(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel, request: Request, logger: Logger
    ) async {
        var frames = inbound.messages(maxSize: settings.maxFrameBytes * 4).makeAsyncIterator()
        let query = request.uri.queryParameters
        var since = query["since"].flatMap { Int64(String($0)) }
        // The token: a header or `?token=` now, or an `auth` frame first (browsers cannot set socket headers).
        var token = APIKeyAuthenticator.bearerToken(request.headers[.authorization]) ?? query["token"].map(String.init)
        if token == nil {
            guard let first = await firstFrame(&frames, outbound: outbound) else { return }
            guard case .object(let fields) = first, fields["type"] == .string("auth"), case .string(let value)? = fields["token"] else {
                await close(outbound, .unauthorized, "the first frame must be {\"type\":\"auth\",\"token\":...}")
                return
            }
            token = value
            if case .integer(let position)? = fields["since"] { since = position }
        }
        let userID: Int64
        do {
            guard case .user(let id, _) = try await authenticator.user(token: token ?? "") else { return }
            userID = id
        } catch {
            await close(outbound, .unauthorized, (error as? APIError)?.message ?? "unauthorized")
            return
        }
        var logger = logger
        logger[metadataKey: "user_id"] = "\(userID)"

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
                try? await outbound.close(.unexpectedServerError, reason: "retry later")
                return
            }
        }
        // A socket too far behind is closed with 4008 from a task of its own: the reader may be waiting for the client.
        let outbox: ChatSocketOutbox
        do {
            outbox = try await ChatSocketOutbox.attach(
                to: channel, userID: userID, capacity: settings.sendBufferEvents, position: start,
                onOverflow: { [self, logger] lastSent in
                    Task {
                        logger.notice("closing a socket that fell behind", metadata: ["position": "\(lastSent)"])
                        await close(outbound, .tooSlow, "too far behind: reconnect with since=\(lastSent)")
                    }
                }
            )
        } catch {
            logger.debug("socket closed before it could be served", metadata: ["error": "\(error)"])
            return
        }
        // Registered before the backlog is read: every event committed from here on waits in the outbox, every
        // earlier one is in the backlog, and the outbox drops what it sees twice by position.
        hub.register(outbox)
        defer { hub.unregister(outbox, now: clock.now) }
        // The backlog first; frames the client sends meanwhile wait.
        guard await catchUp(outbox, since: start, ready: ChatFrames.ready(userID: userID, position: start), logger: logger) else { return }
        if await read(&frames, userID: userID, outbox: outbox, logger: logger) == .tooManyErrors {
            await close(outbound, .tooManyErrors, "too many bad frames")
        }
    }

    /// Waits (at most `authTimeout`) for the first frame and parses it.
    private func firstFrame(_ frames: inout WebSocketInboundMessageStream.AsyncIterator, outbound: WebSocketOutboundWriter) async -> JSONValue? {
        let timeout = Task {
            try await Task.sleep(for: settings.authTimeout)
            await close(outbound, .unauthorized, "no auth frame within \(settings.authTimeout)")
        }
        defer { timeout.cancel() }
        guard let message = try? await frames.next() else { return nil }
        guard case .text(let text) = message, let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            await close(outbound, .unauthorized, "the first frame must be a JSON auth frame")
            return nil
        }
        return value
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

    private enum ReadEnd {
        case closed
        case tooManyErrors
    }

    /// Reads frames until the client closes, or sends too many bad ones.
    private func read(
        _ frames: inout WebSocketInboundMessageStream.AsyncIterator, userID: Int64, outbox: ChatSocketOutbox, logger: Logger
    ) async -> ReadEnd {
        var errors = 0
        while true {
            let message: WebSocketMessage?
            do {
                message = try await frames.next()
            } catch {
                return .closed
            }
            guard let message else { return .closed }
            let reply: String?
            do {
                reply = try await handle(message, userID: userID, outbox: outbox, logger: logger)
            } catch {
                errors += 1
                let (code, text) = Self.describe(error)
                reply = ChatFrames.error(code: code, message: text, ref: Self.ref(of: message))
                if errors >= settings.maxFrameErrors {
                    // What is queued is sent, this error last; then the socket closes with 4002.
                    outbox.deliver(reply: reply!)
                    logger.notice("closing a socket after repeated bad frames", metadata: ["errors": "\(errors)"])
                    return .tooManyErrors
                }
            }
            if let reply { outbox.deliver(reply: reply) }
        }
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

    private func close(_ outbound: WebSocketOutboundWriter, _ code: ChatCloseCode, _ reason: String) async {
        // A close reason is at most 123 bytes (a control frame's payload less the code).
        try? await outbound.close(.unknown(code.rawValue), reason: String(reason.utf8.prefix(120)) ?? "")
    }
}
