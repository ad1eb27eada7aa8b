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
        /// When each user's last socket closed, since this server started.
        var lastSeen: [Int64: Date] = [:]
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

    /// Starts delivering to `outbox`: every event published from now on that its user may see. A user's first
    /// socket makes them online: the users who share a room with them are told.
    func register(_ outbox: ChatSocketOutbox) {
        let deliveries = state.withLock { state -> [(ChatSocketOutbox, ChatSocketOutbox.Item)] in
            let isFirst = state.sockets[outbox.userID]?.isEmpty ?? true
            state.sockets[outbox.userID, default: [:]][ObjectIdentifier(outbox)] = outbox
            state.socketCount += 1
            metrics.websocketConnections.set(to: Double(state.socketCount))
            guard isFirst else { return [] }
            let frame = ChatFrames.presence(userID: outbox.userID, isOnline: true, lastSeen: nil)
            return Self.peers(of: outbox.userID, in: state).map { ($0, .reply(frame)) }
        }
        for (peer, item) in deliveries { peer.deliver(item) }
    }

    /// Stops delivering to `outbox`. A user's last socket closing makes them offline, seen last at `now`.
    func unregister(_ outbox: ChatSocketOutbox, now: Date) {
        let deliveries = state.withLock { state -> [(ChatSocketOutbox, ChatSocketOutbox.Item)] in
            guard state.sockets[outbox.userID]?.removeValue(forKey: ObjectIdentifier(outbox)) != nil else { return [] }
            state.socketCount -= 1
            metrics.websocketConnections.set(to: Double(state.socketCount))
            guard state.sockets[outbox.userID]?.isEmpty == true else { return [] }
            state.sockets[outbox.userID] = nil
            state.lastSeen[outbox.userID] = now
            let frame = ChatFrames.presence(userID: outbox.userID, isOnline: false, lastSeen: now)
            return Self.peers(of: outbox.userID, in: state).map { ($0, .reply(frame)) }
        }
        for (peer, item) in deliveries { peer.deliver(item) }
    }

    /// The open sockets of everyone who shares a room with `userID` (not their own).
    private static func peers(of userID: Int64, in state: State) -> [ChatSocketOutbox] {
        var users: Set<Int64> = []
        for members in state.members.values where members.contains(userID) { users.formUnion(members) }
        users.remove(userID)
        return users.flatMap { state.sockets[$0].map { Array($0.values) } ?? [] }
    }

    /// Whether each of `userIDs` that shares a room with `viewer` (or is the viewer) is online, and when they were
    /// last seen by this server (since it started).
    func presence(of userIDs: [Int64], viewer: Int64) -> [(userID: Int64, isOnline: Bool, lastSeen: Date?)] {
        state.withLock { state in
            var visible: Set<Int64> = [viewer]
            for members in state.members.values where members.contains(viewer) { visible.formUnion(members) }
            return userIDs.filter(visible.contains).map { ($0, state.sockets[$0] != nil, state.lastSeen[$0]) }
        }
    }

    /// Sends a frame that is not an event (typing) to the sockets of a room's members, except `sender`'s.
    func broadcast(_ frame: String, toRoom roomID: Int64, except sender: Int64) {
        let targets = state.withLock { state -> [ChatSocketOutbox] in
            (state.members[roomID] ?? []).subtracting([sender]).flatMap { state.sockets[$0].map { Array($0.values) } ?? [] }
        }
        for outbox in targets { outbox.deliver(.reply(frame)) }
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
        /// The client asked to be sent everything after this position again (its frame's `ref`, if any).
        case resume(since: Int64, ref: String?)
    }

    let userID: Int64
    let items: AsyncStream<Item>
    /// When this socket last passed on a typing frame, per room (see ``ChatSocketSession``).
    let typingSent = Mutex<[Int64: ContinuousClock.Instant]>([:])
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

    /// The start of a stream: every event after `position` follows, in order. Sent when the socket opens, and
    /// again (with the `resume` frame's `ref`) where a resume takes effect.
    static func ready(userID: Int64, position: Int64, ref: String? = nil) -> String {
        #"{"type":"ready","user_id":\#(userID),"position":\#(position),"ref":\#(ref.map(jsonString) ?? "null")}"#
    }

    /// The answer to a client frame: `data` is what the frame made or changed (a message, a receipt).
    static func ack(ref: String?, data: some Encodable, position: Int64? = nil, isRepeat: Bool = false) -> String {
        let json = (try? ChatJSON.encoder().encode(data)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        return #"{"type":"ack","ref":\#(ref.map(jsonString) ?? "null"),"position":\#(position.map(String.init) ?? "null"),"repeat":\#(isRepeat),"data":\#(json)}"#
    }

    static func error(code: String, message: String, ref: String?) -> String {
        #"{"type":"error","code":\#(jsonString(code)),"message":\#(jsonString(message)),"ref":\#(ref.map(jsonString) ?? "null")}"#
    }

    static func presence(userID: Int64, isOnline: Bool, lastSeen: Date?) -> String {
        let seen = lastSeen.map { jsonString(Timestamp.rfc3339Milliseconds($0)) } ?? "null"
        return #"{"type":"presence","user_id":\#(userID),"status":"\#(isOnline ? "online" : "offline")","last_seen_at":\#(seen)}"#
    }

    static func typing(roomID: Int64, userID: Int64) -> String {
        #"{"type":"typing","room_id":\#(roomID),"user_id":\#(userID)}"#
    }

    static func pong(ref: String?) -> String {
        #"{"type":"pong","ref":\#(ref.map(jsonString) ?? "null")}"#
    }
}
