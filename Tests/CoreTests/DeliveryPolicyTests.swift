import Core
import Foundation
import Testing

@Suite("Delivery policy")
struct DeliveryPolicyTests {
    @Test("backoff doubles, is capped, honours Retry-After and stays within jitter")
    func backoff() {
        let policy = RetryPolicy(maxRetries: 0, initialBackoff: .seconds(1), maxBackoff: .seconds(10), jitter: 0)
        var generator = SystemRandomNumberGenerator()
        #expect(policy.delay(afterFailedAttempts: 1, using: &generator) == .seconds(1))
        #expect(policy.delay(afterFailedAttempts: 2, using: &generator) == .seconds(2))
        #expect(policy.delay(afterFailedAttempts: 4, using: &generator) == .seconds(8))
        #expect(policy.delay(afterFailedAttempts: 5, using: &generator) == .seconds(10))
        #expect(policy.delay(afterFailedAttempts: 500, using: &generator) == .seconds(10))
        #expect(policy.delay(afterFailedAttempts: 1, retryAfter: .seconds(30), using: &generator) == .seconds(30))

        let jittered = RetryPolicy(maxRetries: 0, initialBackoff: .seconds(10), maxBackoff: .seconds(100), jitter: 0.2)
        for _ in 0..<100 {
            let delay = jittered.delay(afterFailedAttempts: 1, using: &generator)
            #expect(delay >= .seconds(8) && delay <= .seconds(12))
        }
    }

    @Test("max_retries: 0 retries forever; N gives up after N failed attempts")
    func exhaustion() {
        #expect(!RetryPolicy(maxRetries: 0, initialBackoff: .seconds(1), maxBackoff: .seconds(1)).isExhausted(failedAttempts: 1_000_000))
        let three = RetryPolicy(maxRetries: 3, initialBackoff: .seconds(1), maxBackoff: .seconds(1))
        #expect(!three.isExhausted(failedAttempts: 2))
        #expect(three.isExhausted(failedAttempts: 3))
    }

    @Test("claims of a backlog double while they come back full, up to the ceiling; a short one or a full lane starts over")
    func claimSizeGrows() {
        var size = ClaimSize(base: 50, ceiling: 2_500)
        var asked: [Int] = []
        for _ in 0..<8 {
            asked.append(size.next)
            size.claimed(size.next, asked: size.next)
        }
        #expect(asked == [50, 100, 200, 400, 800, 1_600, 2_500, 2_500])
        // Capped by the lanes' free room: the claim got all it asked for, so the backlog may go on.
        size.claimed(700, asked: 700)
        #expect(size.next == 2_500)
        size.claimed(10, asked: 2_500)
        #expect(size.next == 50, "the backlog is gone: back to worker.batch_size")
        size.claimed(0, asked: 50)
        #expect(size.next == 50)
        size.claimed(50, asked: 50)
        size.claimed(100, asked: 100)
        #expect(size.next == 200)
        size.reset()
        #expect(size.next == 50, "a lane was full: small claims until it has room")

        // A lane batch no larger than batch_size (HTTP delivers one message per task): no growth.
        var flat = ClaimSize(base: 50, ceiling: 1)
        flat.claimed(50, asked: 50)
        #expect(flat.next == 50)
        #expect(ClaimSize(base: 0, ceiling: 0).next == 1)
    }

    @Test("a request for room is answered once: no request, no wake-up; one request, one wake-up")
    func roomRequest() {
        let room = RoomRequest()
        #expect(!room.take(), "nobody asked")
        room.request()
        room.request()
        #expect(room.take())
        #expect(!room.take(), "one wake-up per request, however many deliveries finish")
        room.request()
        #expect(room.take())
    }

    @Test("outcomes map to store changes")
    func changes() {
        let policy = RetryPolicy(maxRetries: 3, initialBackoff: .seconds(1), maxBackoff: .seconds(60), jitter: 0)
        var generator = SystemRandomNumberGenerator()
        let now = Date(timeIntervalSince1970: 1_000_000)
        let error = DeliveryError(reason: .http5xx, message: "HTTP 500", statusCode: 500)
        if case .delivered = policy.change(after: .delivered(statusCode: 200), previousAttempts: 0, now: now, using: &generator) {} else {
            Issue.record("2xx must deliver")
        }
        if case .failed = policy.change(after: .rejected(error), previousAttempts: 0, now: now, using: &generator) {} else {
            Issue.record("a rejection must be a dead letter")
        }
        if case .retry(let date) = policy.change(after: .retryable(error), previousAttempts: 1, now: now, using: &generator) {
            #expect(date == now.addingTimeInterval(2))
        } else {
            Issue.record("a retryable failure under the limit must be retried")
        }
        if case .failed = policy.change(after: .retryable(error), previousAttempts: 2, now: now, using: &generator) {} else {
            Issue.record("the third failure with max_retries 3 must fail the message")
        }
    }

    @Test("message ids are UUIDv7 and sort by time")
    func messageIDs() {
        let earlier = MessageID.make(at: Date(timeIntervalSince1970: 1_700_000_000))
        let later = MessageID.make(at: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(earlier.rawValue < later.rawValue)
        #expect(earlier.rawValue.count == 36)
        #expect(Array(earlier.rawValue)[14] == "7")
        #expect(UUID(uuidString: earlier.rawValue) != nil)
        let many = Set((0..<10_000).map { _ in MessageID.make() })
        #expect(many.count == 10_000)
    }

    @Test("ids as keys: equal text is one key; text differing only before its hashed tail, or short, is another")
    func messageIDKeys() {
        let id = MessageID.make()
        let copy = MessageID(rawValue: String(id.rawValue.utf8.map { Character(Unicode.Scalar($0)) }))
        #expect(copy == id && copy.hashValue == id.hashValue)
        // Same last eight bytes, different start: equal hashes, distinct keys.
        let sameTail = MessageID(rawValue: "f" + id.rawValue.dropFirst())
        var table = [id: 1, sameTail: 2, MessageID(rawValue: "short"): 3, MessageID(rawValue: ""): 4]
        #expect(table.count == 4)
        #expect(table[MessageID(rawValue: id.rawValue)] == 1 && table[sameTail] == 2)
        #expect(table[MessageID(rawValue: "short")] == 3 && table[MessageID(rawValue: "")] == 4)
        table[id] = nil
        #expect(table[sameTail] == 2 && table[id] == nil)
    }
}
