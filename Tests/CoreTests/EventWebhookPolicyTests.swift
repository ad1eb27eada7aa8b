import Core
import Foundation
import Testing

@Suite("event webhook policies")
struct EventWebhookPolicyTests {
    @Test("event type patterns: exact names, families and *; a pattern that selects nothing is refused")
    func patterns() throws {
        let family = try #require(EventTypePattern("message.*"))
        #expect(family.matches("message.created") && family.matches("message.deleted") && !family.matches("reaction.added"))
        #expect(try #require(EventTypePattern("*")).matches("endpoint.disabled"))
        #expect(try #require(EventTypePattern("webhook.failed")).matches("webhook.failed"))
        #expect(!(try #require(EventTypePattern("webhook.failed")).matches("webhook.delivered")))
        for refused in ["message.sent", "messages.*", "message", "", "room.member_*", "*.created"] {
            #expect(EventTypePattern(refused) == nil, "\(refused)")
        }
    }

    @Test("an endpoint's filters: types, rooms for chat events, routes for webhook events, and only events after its creation")
    func filters() throws {
        let now = Date()
        let endpoint = EventEndpoint(
            id: "ep_1", url: "http://x/", eventTypes: [EventTypePattern("message.*")!, EventTypePattern("webhook.*")!],
            roomIDs: [7], routes: ["/orders"], secret: "whsec_x", createdPosition: 100, createdAt: now, updatedAt: now
        )
        #expect(endpoint.accepts(type: "message.created", position: 101, roomID: 7, route: nil))
        #expect(!endpoint.accepts(type: "message.created", position: 100, roomID: 7, route: nil), "made after it")
        #expect(!endpoint.accepts(type: "message.created", position: 101, roomID: 8, route: nil))
        #expect(!endpoint.accepts(type: "reaction.added", position: 101, roomID: 7, route: nil))
        #expect(endpoint.accepts(type: "webhook.delivered", position: 101, roomID: nil, route: "/orders"))
        #expect(!endpoint.accepts(type: "webhook.delivered", position: 101, roomID: nil, route: "/other"))
    }

    @Test("the retry schedule: each delay within its jitter, Retry-After stretches up to its bound, and the schedule ends")
    func schedule() {
        let schedule = EventRetrySchedule(delays: [.seconds(5), .seconds(300)], jitter: 0.1, retryAfterMax: .seconds(3600))
        let now = Date(timeIntervalSince1970: 1_000_000)
        var generator = SystemRandomNumberGenerator()
        var seen: Set<Int> = []
        for _ in 0..<200 {
            let next = schedule.nextAttempt(afterFailedAttempt: 1, now: now, retryAfter: nil, using: &generator)!
            let delay = next.timeIntervalSince(now)
            #expect(delay >= 4.5 && delay <= 5.5)
            seen.insert(Int(delay * 10))
        }
        #expect(seen.count > 3, "jitter spreads the delays")
        let second = schedule.nextAttempt(afterFailedAttempt: 2, now: now, retryAfter: nil, using: &generator)!.timeIntervalSince(now)
        #expect(second >= 270 && second <= 330)
        #expect(schedule.nextAttempt(afterFailedAttempt: 3, now: now, retryAfter: nil, using: &generator) == nil)
        #expect(schedule.attempts == 3)
        let stretched = schedule.nextAttempt(afterFailedAttempt: 1, now: now, retryAfter: .seconds(120), using: &generator)!
        #expect(stretched.timeIntervalSince(now) == 120)
        let bounded = schedule.nextAttempt(afterFailedAttempt: 1, now: now, retryAfter: .seconds(86_400), using: &generator)!
        #expect(bounded.timeIntervalSince(now) == 3600)
        let shorter = schedule.nextAttempt(afterFailedAttempt: 2, now: now, retryAfter: .seconds(1), using: &generator)!
        #expect(shorter.timeIntervalSince(now) >= 270, "a shorter Retry-After does not bring a retry forward")
    }
}
