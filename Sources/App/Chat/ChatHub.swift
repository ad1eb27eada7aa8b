import Core
import Foundation
import NIOCore
import Synchronization

/// The in-process bus: pushes each committed chat event to the connected sockets of the users who may see it.
///
/// Fan-out on read: one event row per message, however many members; the hub renders the event's frame once and
/// writes the same bytes to every recipient's socket, with one job per event loop for all of its sockets (no task is
/// woken per recipient; see ``ChatSocketOutbox``). Who is in which room is cached here, loaded once at
/// start and kept current by the membership events themselves, which arrive in position order like every other
/// event, so the cache is always the membership as of the last published event.
final class ChatHub: ChatEventBus {
    private struct State {
        /// Room → its current members.
        var members: [Int64: Set<Int64>] = [:]
        /// User → the rooms they are a member of: the same memberships as `members`, the other way round, so that a
        /// presence change reads a user's rooms instead of walking every room.
        var rooms: [Int64: Set<Int64>] = [:]
        /// User → their open sockets.
        var sockets: [Int64: [ObjectIdentifier: ChatSocketOutbox]] = [:]
        var socketCount = 0
        /// When each user's last socket closed, since this server started.
        var lastSeen: [Int64: Date] = [:]

        mutating func join(_ userID: Int64, to roomID: Int64) {
            members[roomID, default: []].insert(userID)
            rooms[userID, default: []].insert(roomID)
        }

        mutating func leave(_ userID: Int64, from roomID: Int64) {
            members[roomID]?.remove(userID)
            rooms[userID]?.remove(roomID)
            if rooms[userID]?.isEmpty == true { rooms[userID] = nil }
        }

        /// Everyone who shares a room with `userID`, themselves included if they are in any room.
        func roommates(of userID: Int64) -> Set<Int64> {
            var users: Set<Int64> = []
            for roomID in rooms[userID] ?? [] { users.formUnion(members[roomID] ?? []) }
            return users
        }
    }

    private let state = Mutex(State())
    private let flushes = PendingFlushes()
    private let metrics: AppMetrics

    /// A hub that counts sockets and stored messages in `metrics`.
    init(metrics: AppMetrics) {
        self.metrics = metrics
    }

    /// Replaces the membership cache (at start, before any socket connects).
    func load(memberships: [(roomID: Int64, userID: Int64)]) {
        state.withLock { state in
            for membership in memberships {
                state.join(membership.userID, to: membership.roomID)
            }
        }
    }

    /// Open sockets, for `/stats` and metrics.
    var socketCount: Int { state.withLock { $0.socketCount } }

    /// Starts delivering to `outbox`: every event published from now on that its user may see. A user's first
    /// socket makes them online: the users who share a room with them are told.
    func register(_ outbox: ChatSocketOutbox) {
        let deliveries = state.withLock { state -> [ChatSocketOutbox] in
            let isFirst = state.sockets[outbox.userID]?.isEmpty ?? true
            state.sockets[outbox.userID, default: [:]][ObjectIdentifier(outbox)] = outbox
            state.socketCount += 1
            metrics.websocketConnections.set(to: Double(state.socketCount))
            guard isFirst else { return [] }
            return Self.peers(of: outbox.userID, in: state)
        }
        send(.reply(ByteBuffer(string: ChatFrames.presence(userID: outbox.userID, isOnline: true, lastSeen: nil))), to: deliveries)
    }

    /// Stops delivering to `outbox`. A user's last socket closing makes them offline, seen last at `now`.
    func unregister(_ outbox: ChatSocketOutbox, now: Date) {
        let deliveries = state.withLock { state -> [ChatSocketOutbox] in
            guard state.sockets[outbox.userID]?.removeValue(forKey: ObjectIdentifier(outbox)) != nil else { return [] }
            state.socketCount -= 1
            metrics.websocketConnections.set(to: Double(state.socketCount))
            guard state.sockets[outbox.userID]?.isEmpty == true else { return [] }
            state.sockets[outbox.userID] = nil
            state.lastSeen[outbox.userID] = now
            return Self.peers(of: outbox.userID, in: state)
        }
        send(.reply(ByteBuffer(string: ChatFrames.presence(userID: outbox.userID, isOnline: false, lastSeen: now))), to: deliveries)
    }

    /// The open sockets of everyone who shares a room with `userID` (not their own).
    private static func peers(of userID: Int64, in state: State) -> [ChatSocketOutbox] {
        var users = state.roommates(of: userID)
        users.remove(userID)
        return users.flatMap { state.sockets[$0].map { Array($0.values) } ?? [] }
    }

    /// Whether each of `userIDs` that shares a room with `viewer` (or is the viewer) is online, and when they were
    /// last seen by this server (since it started).
    func presence(of userIDs: [Int64], viewer: Int64) -> [(userID: Int64, isOnline: Bool, lastSeen: Date?)] {
        state.withLock { state in
            var visible = state.roommates(of: viewer)
            visible.insert(viewer)
            return userIDs.filter(visible.contains).map { ($0, state.sockets[$0] != nil, state.lastSeen[$0]) }
        }
    }

    /// Sends a frame that is not an event (typing) to the sockets of a room's members, except `sender`'s.
    func broadcast(_ frame: String, toRoom roomID: Int64, except sender: Int64) {
        let targets = state.withLock { state -> [ChatSocketOutbox] in
            (state.members[roomID] ?? []).subtracting([sender]).flatMap { state.sockets[$0].map { Array($0.values) } ?? [] }
        }
        send(.reply(ByteBuffer(string: frame)), to: targets)
    }

    /// Sends one item to many sockets: a job per event loop.
    private func send(_ item: ChatSocketOutbox.Item, to outboxes: [ChatSocketOutbox]) {
        var byLoop = DeliveriesByLoop()
        for outbox in outboxes { byLoop.add(item, for: outbox) }
        byLoop.run(flushes: flushes)
    }

    func publish(_ events: [ChatEvent]) {
        var deliveries = DeliveriesByLoop()
        metrics.chatMessages.increment(by: Int64(events.count { $0.type == .messageCreated }))
        state.withLock { state in
            for event in events {
                switch event.membershipChange {
                case .joined(let roomID, let userID)?: state.join(userID, to: roomID)
                case .left(let roomID, let userID)?: state.leave(userID, from: roomID)
                case nil: break
                }
                guard !state.sockets.isEmpty else { continue }
                let item = ChatSocketOutbox.Item.event(position: event.position, frame: ChatFrames.event(event))
                var recipients: Set<Int64> = []
                if let roomID = event.roomID, let members = state.members[roomID] { recipients = members }
                if let userID = event.userID { recipients.insert(userID) }
                for userID in recipients {
                    guard let sockets = state.sockets[userID] else { continue }
                    for outbox in sockets.values { deliveries.add(item, for: outbox) }
                }
            }
        }
        // Outside the lock: the writes happen on the sockets' event loops.
        deliveries.run(flushes: flushes)
    }

    /// True when `userID` is a current member of `roomID` (as of the last published event).
    func isMember(_ userID: Int64, of roomID: Int64) -> Bool {
        state.withLock { $0.members[roomID]?.contains(userID) ?? false }
    }
}

/// Items for sockets grouped by their channels' event loops, so that one job per loop writes them all (a handful of
/// loops, against hundreds or thousands of sockets). The flushes follow in a job of their own (``PendingFlushes``).
private struct DeliveriesByLoop {
    private var loops: [ObjectIdentifier: (loop: any EventLoop, items: [(ChatSocketOutbox, ChatSocketOutbox.Item)])] = [:]

    mutating func add(_ item: ChatSocketOutbox.Item, for outbox: ChatSocketOutbox) {
        loops[ObjectIdentifier(outbox.eventLoop), default: (outbox.eventLoop, [])].items.append((outbox, item))
    }

    func run(flushes: PendingFlushes) {
        for (loop, items) in loops.values {
            let pending = flushes.on(loop)
            loop.execute {
                for (outbox, item) in items { outbox.deliverOnLoop(item) }
                pending.flushLater(items.lazy.map(\.0))
            }
        }
    }
}

/// The sockets written to but not flushed yet, per event loop. A loop's flush runs as a job queued behind the
/// jobs already waiting on that loop: when fan-out falls behind (several events' jobs queued), each socket is
/// flushed once for all of them, one `writev` of several frames instead of one system call per frame and socket;
/// when it keeps up, the flush follows its event's writes at once. Writes keep their order either way.
final class PendingFlushes: Sendable {
    /// One loop's sockets to flush; touched only on that loop.
    final class Loop: Sendable {
        private struct State {
            var outboxes: [ChatSocketOutbox] = []
            var isScheduled = false
        }

        private let loop: any EventLoop
        private let state: NIOLoopBoundBox<State>

        init(loop: any EventLoop) {
            self.loop = loop
            self.state = .makeBoxSendingValue(State(), eventLoop: loop)
        }

        /// Flushes `outboxes` once the jobs queued on the loop so far have run. Only on the loop.
        func flushLater(_ outboxes: some Sequence<ChatSocketOutbox>) {
            state.value.outboxes.append(contentsOf: outboxes)
            guard !state.value.isScheduled else { return }
            state.value.isScheduled = true
            loop.execute { [self] in
                let outboxes = state.value.outboxes
                state.value = State()
                for outbox in outboxes { outbox.flushOnLoop() }
            }
        }
    }

    private let loops = Mutex<[ObjectIdentifier: Loop]>([:])

    /// The pending flushes of `loop`.
    func on(_ loop: any EventLoop) -> Loop {
        loops.withLock { loops in
            if let pending = loops[ObjectIdentifier(loop)] { return pending }
            let pending = Loop(loop: loop)
            loops[ObjectIdentifier(loop)] = pending
            return pending
        }
    }
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
    static func event(_ event: ChatEvent) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(event.payload.count + 96)
        buffer.writeString(#"{"type":""#)
        buffer.writeString(event.type.rawValue)
        buffer.writeString(#"","position":"#)
        buffer.writeString(String(event.position))
        buffer.writeString(#","room_id":"#)
        buffer.writeString(event.roomID.map(String.init) ?? "null")
        buffer.writeString(#","data":"#)
        buffer.writeBytes(event.payload)
        buffer.writeString("}")
        return buffer
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
