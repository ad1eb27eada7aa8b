import Synchronization

/// The records of one `send` awaiting their delivery reports: one object and one continuation for the whole batch,
/// however many records it holds.
///
/// Each record's message opaque points at its own slot in `slots`; the slot names the batch, and its offset from
/// the first slot is the record's index, so the delivery report callback finds both without a per-record object.
///
/// `@unchecked Sendable`: a slot's outcome is written either by the sender before the record is handed to
/// librdkafka (when librdkafka refuses it) or by the poll thread in that record's delivery report, never both, and
/// it is read by the sender only after `waitForReports()` returned, i.e. after the last report released `state`'s
/// lock and resumed the sender. The slots live exactly as long as the object, which the sender keeps alive until
/// every accepted record has been reported.
final class PendingBatch: @unchecked Sendable {
    /// What became of one record.
    enum Outcome {
        case pending
        case delivered(partition: Int32, offset: Int64)
        case failed(KafkaProduceError)
    }

    struct Slot {
        var batch: Unmanaged<PendingBatch>
        var outcome: Outcome
    }

    private struct State {
        /// Records handed to librdkafka whose report has not arrived.
        var outstanding = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let slots: UnsafeMutableBufferPointer<Slot>
    private let state = Mutex(State())

    init(count: Int) {
        slots = .allocate(capacity: max(count, 1))
        // Unretained: the slots belong to this object, so they never outlive it.
        slots.initialize(repeating: Slot(batch: Unmanaged.passUnretained(self), outcome: .pending))
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    var count: Int { slots.count }

    /// The message opaque for record `index`.
    func opaque(for index: Int) -> UnsafeMutableRawPointer {
        // Force-unwrap: `slots` was allocated with a capacity of at least one.
        UnsafeMutableRawPointer(slots.baseAddress! + index)
    }

    /// Counts a record about to be handed to librdkafka (before the call: its report may arrive before it returns).
    func willHandOver() {
        state.withLock { $0.outstanding += 1 }
    }

    /// Takes back `willHandOver()` for a record librdkafka refused, recording why.
    func refused(_ index: Int, with outcome: Outcome) {
        slots[index].outcome = outcome
        state.withLock { $0.outstanding -= 1 }
    }

    /// Records an outcome decided before the record reached librdkafka.
    func setOutcome(_ outcome: Outcome, at index: Int) {
        slots[index].outcome = outcome
    }

    /// The outcome of record `index`; valid once `waitForReports()` returned.
    func outcome(at index: Int) -> Outcome {
        slots[index].outcome
    }

    /// Called from the delivery report callback for the record whose opaque is `slot`.
    static func report(_ outcome: Outcome, slot: UnsafeMutablePointer<Slot>) {
        let batch = slot.pointee.batch.takeUnretainedValue()
        slot.pointee.outcome = outcome
        let waiter = batch.state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.outstanding -= 1
            guard state.outstanding == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns once every record handed to librdkafka has its delivery report.
    func waitForReports() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.outstanding == 0 { return true }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
