import Core
import Foundation
import Synchronization

/// The in-process bus: pushes each committed chat event to the connected sockets of the users who may see it.
///
/// Fan-out on read: one event row per message, however many members; the hub renders the event's frame once and
/// hands the same text to every recipient's bounded outbox. Who is in which room is cached here, loaded once at
/// start and kept current by the membership events themselves, which arrive in position order like every other
/// event, so the cache is always the membership as of the last published event.
final class ChatHub: ChatEventBus {
    private struct State {
        /// Room → its current members.
        var members: [Int64: Set<Int64>] = [:]
        /// User → their open sockets.
        var sockets: [Int64: [ObjectIdentifier: ChatSocketOutbox]] = [:]
        var socketCount = 0
    }

    private let state = Mutex(State())
    private let metrics: AppMetrics

    /// A hub that counts sockets and stored messages in `metrics`.
    init(metrics: AppMetrics) {
        self.metrics = metrics
    }

    /// Replaces the membership cache (at start, before any socket connects).
    func load(memberships: [(roomID: Int64, userID: Int64)]) {
        state.withLock { state in
            for membership in memberships {
                state.members[membership.roomID, default: []].insert(membership.userID)
            }
        }
    }

    /// Open sockets, for `/stats` and metrics.
    var socketCount: Int { state.withLock { $0.socketCount } }

    /// Starts delivering to `outbox`: every event published from now on that its user may see.
    func register(_ outbox: ChatSocketOutbox) {
        state.withLock { state in
            state.sockets[outbox.userID, default: [:]][ObjectIdentifier(outbox)] = outbox
            state.socketCount += 1
            metrics.websocketConnections.set(to: Double(state.socketCount))
        }
    }

    /// Stops delivering to `outbox`.
    func unregister(_ outbox: ChatSocketOutbox) {
        state.withLock { state in
            guard state.sockets[outbox.userID]?.removeValue(forKey: ObjectIdentifier(outbox)) != nil else { return }
            if state.sockets[outbox.userID]?.isEmpty == true { state.sockets[outbox.userID] = nil }
            state.socketCount -= 1
            metrics.websocketConnections.set(to: Double(state.socketCount))
        }
    }

    func publish(_ events: [ChatEvent]) {
        var deliveries: [(ChatSocketOutbox, ChatSocketOutbox.Item)] = []
        metrics.chatMessages.increment(by: Int64(events.count { $0.type == .messageCreated }))
        state.withLock { state in
            for event in events {
                switch event.membershipChange {
                case .joined(let roomID, let userID)?: state.members[roomID, default: []].insert(userID)
                case .left(let roomID, let userID)?: state.members[roomID]?.remove(userID)
                case nil: break
                }
                guard !state.sockets.isEmpty else { continue }
                let item = ChatSocketOutbox.Item.event(position: event.position, frame: ChatFrames.event(event))
                var recipients: Set<Int64> = []
                if let roomID = event.roomID, let members = state.members[roomID] { recipients = members }
                if let userID = event.userID { recipients.insert(userID) }
                for userID in recipients {
                    guard let sockets = state.sockets[userID] else { continue }
                    for outbox in sockets.values { deliveries.append((outbox, item)) }
                }
            }
        }
        // Outside the lock: an outbox that overflows finishes its stream, which must not hold up other sockets.
        for (outbox, item) in deliveries { outbox.deliver(item) }
    }

    /// True when `userID` is a current member of `roomID` (as of the last published event).
    func isMember(_ userID: Int64, of roomID: Int64) -> Bool {
        state.withLock { $0.members[roomID]?.contains(userID) ?? false }
    }
}

/// One socket's bounded queue of frames to write. The hub and the socket's reader put frames in; the socket's
/// writer takes them out. When the queue is full the socket is too slow: the queue ends, and the writer closes the
/// socket with ``ChatCloseCode/tooSlow`` so the client resumes from its last position instead of the server holding
/// an unbounded backlog for it.
final class ChatSocketOutbox: Sendable {
    enum Item: Sendable {
        /// An event of the log, written only if its position is past what the socket has already sent.
        case event(position: Int64, frame: String)
        /// A reply to the client (ready, ack, error), written as is.
        case reply(String)
        /// The client asked to be sent everything after this position again.
        case resume(since: Int64)
    }

    let userID: Int64
    let items: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    private let overflowed = Atomic(false)

    init(userID: Int64, capacity: Int) {
        self.userID = userID
        (items, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingOldest(capacity))
    }

    /// Queues `item`; when the queue is full, marks the socket too slow and ends the queue.
    func deliver(_ item: Item) {
        if case .dropped = continuation.yield(item) {
            overflowed.store(true, ordering: .relaxed)
            continuation.finish()
        }
    }

    /// True once an item was dropped for lack of room.
    var hasOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    /// Ends the queue (the socket is closing).
    func finish() { continuation.finish() }
}

/// The close codes of `/ws`, documented in the README: 4000–4999 are the application's own (RFC 6455 §7.4.2).
enum ChatCloseCode: UInt16 {
    /// No valid token: sign in again.
    case unauthorized = 4001
    /// Too many bad frames.
    case tooManyErrors = 4002
    /// The client fell too far behind: reconnect with `?since=<last position>`.
    case tooSlow = 4008
}

/// The JSON frames the socket writes. Hand-built: an event's frame is built once per event and sent to every
/// recipient, and its `data` is the payload exactly as stored in the log.
enum ChatFrames {
    static func event(_ event: ChatEvent) -> String {
        let room = event.roomID.map(String.init) ?? "null"
        return #"{"type":"\#(event.type.rawValue)","position":\#(event.position),"room_id":\#(room),"data":"#
            + String(decoding: event.payload, as: UTF8.self) + "}"
    }

    static func ready(userID: Int64, position: Int64) -> String {
        #"{"type":"ready","user_id":\#(userID),"position":\#(position)}"#
    }

    static func ack(ref: String?, message: ChatMessage, position: Int64?, isRepeat: Bool) -> String {
        let data = (try? ChatJSON.encoder().encode(message)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        return #"{"type":"ack","ref":\#(ref.map(jsonString) ?? "null"),"position":\#(position.map(String.init) ?? "null"),"repeat":\#(isRepeat),"data":\#(data)}"#
    }

    static func receipt(ref: String?, _ receipt: ReadReceipt) -> String {
        let data = (try? ChatJSON.encoder().encode(receipt)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        return #"{"type":"ack","ref":\#(ref.map(jsonString) ?? "null"),"position":null,"repeat":false,"data":\#(data)}"#
    }

    static func error(code: String, message: String, ref: String?) -> String {
        #"{"type":"error","code":\#(jsonString(code)),"message":\#(jsonString(message)),"ref":\#(ref.map(jsonString) ?? "null")}"#
    }

    static func pong(ref: String?) -> String {
        #"{"type":"pong","ref":\#(ref.map(jsonString) ?? "null")}"#
    }
}
