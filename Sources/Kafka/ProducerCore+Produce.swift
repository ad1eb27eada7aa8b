import CRdKafka
import Synchronization

// Batch produce: handing records to librdkafka without a per-record allocation, under the lifecycle lock that
// tells shutdown when no produce call can still be touching the handle.

/// What happened when one record was offered to librdkafka.
enum HandOver {
    /// librdkafka holds it; its delivery report will follow.
    case accepted
    /// librdkafka's local queue is full: try again once reports have freed space.
    case queueFull
    /// Refused for good (or the producer is shut down).
    case refused(KafkaProduceError)
}

/// Reusable buffers for building `rd_kafka_produceva` arguments, so a batch does not allocate per record.
struct ProduceScratch {
    var bytes: [UInt8] = []
    var headerOffsets: [(name: Int, value: Int, count: Int)] = []
    var fields: [rd_kafka_vu_t] = []
}

extension ProducerCore {
    /// Offers record `index` of `batch` to librdkafka. On `.accepted` its delivery report completes the slot.
    func handOver(_ record: KafkaRecord, index: Int, of batch: PendingBatch, scratch: inout ProduceScratch) -> HandOver {
        batch.willHandOver()
        // Holding the lock across the (non-blocking) produce call is what lets `drainAndDestroy` know no producer is
        // still touching the handle once the phase has left `.running`.
        let outcome: HandOver = lifecycle.withLock { state in
            guard case .running = state.phase else { return .refused(.producerShutDown) }
            // Counted before the call: the delivery report may arrive (and decrement) before produceva returns.
            context.inFlight.add(1, ordering: .relaxed)
            guard let error = produce(record, opaque: batch.opaque(for: index), scratch: &scratch) else {
                return .accepted
            }
            context.inFlight.subtract(1, ordering: .relaxed)
            defer { rd_kafka_error_destroy(error) }
            if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL { return .queueFull }
            return .refused(
                KafkaProduceError(
                    code: String(cString: rd_kafka_error_name(error)),
                    message: String(cString: rd_kafka_error_string(error)),
                    isRetriable: rd_kafka_error_is_retriable(error) != 0
                )
            )
        }
        switch outcome {
        case .accepted: break  // The delivery report completes the slot.
        case .queueFull: batch.refused(index, with: .pending)
        case .refused(let error): batch.refused(index, with: .failed(error))
        }
        return outcome
    }

    /// Calls `rd_kafka_produceva` (the non-variadic form of `rd_kafka_producev`, which Swift cannot import), with
    /// every pointer valid for the duration of the call; librdkafka copies key, value and headers
    /// (`RD_KAFKA_MSG_F_COPY`), so nothing needs to outlive it.
    private func produce(_ record: KafkaRecord, opaque: UnsafeMutableRawPointer, scratch: inout ProduceScratch) -> OpaquePointer? {
        // One buffer holds the NUL-terminated header names, the header values, and a final spare byte whose address
        // stands in for empty keys and values: librdkafka reads a NULL pointer as a null (absent) key or value, which
        // is not what an empty array means.
        scratch.bytes.removeAll(keepingCapacity: true)
        scratch.headerOffsets.removeAll(keepingCapacity: true)
        for header in record.headers {
            let nameOffset = scratch.bytes.count
            scratch.bytes.append(contentsOf: header.name.utf8)
            scratch.bytes.append(0)
            let valueOffset = scratch.bytes.count
            let valueCount = header.appendValue(to: &scratch.bytes)
            scratch.headerOffsets.append((nameOffset, valueOffset, valueCount))
        }
        scratch.bytes.append(0)
        let fieldCount = 5 + record.headers.count
        if scratch.fields.count < fieldCount {
            scratch.fields.append(contentsOf: repeatElement(rd_kafka_vu_t(), count: fieldCount - scratch.fields.count))
        }
        let headerOffsets = scratch.headerOffsets
        return scratch.bytes.withUnsafeMutableBufferPointer { scratchBuffer in
            // Force-unwrap: the buffer holds at least the spare byte, so it has storage.
            let scratchBase = UnsafeMutableRawPointer(scratchBuffer.baseAddress!)
            let spare = scratchBase + (scratchBuffer.count - 1)
            return scratch.fields.withUnsafeMutableBufferPointer { fields in
                record.topic.withCString { topicPointer in
                    record.value.withUnsafeBytes { valueBytes in
                        withOptionalBytes(record.key) { keyBytes in
                            fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                            fields[0].u.cstr = topicPointer
                            fields[1].vtype = RD_KAFKA_VTYPE_VALUE
                            fields[1].u.mem.ptr = valueBytes.count > 0 ? UnsafeMutableRawPointer(mutating: valueBytes.baseAddress) : spare
                            fields[1].u.mem.size = valueBytes.count
                            fields[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                            fields[2].u.i = RD_KAFKA_MSG_F_COPY
                            fields[3].vtype = RD_KAFKA_VTYPE_OPAQUE
                            fields[3].u.ptr = opaque
                            var count = 4
                            if let keyBytes {
                                fields[count].vtype = RD_KAFKA_VTYPE_KEY
                                fields[count].u.mem.ptr = keyBytes.count > 0 ? UnsafeMutableRawPointer(mutating: keyBytes.baseAddress) : spare
                                fields[count].u.mem.size = keyBytes.count
                                count += 1
                            }
                            for offsets in headerOffsets {
                                fields[count].vtype = RD_KAFKA_VTYPE_HEADER
                                fields[count].u.header.name = UnsafePointer((scratchBase + offsets.name).assumingMemoryBound(to: CChar.self))
                                fields[count].u.header.val = UnsafeRawPointer(scratchBase + offsets.value)
                                fields[count].u.header.size = offsets.count
                                count += 1
                            }
                            // Force-unwrap: `fields` holds at least five elements (grown above).
                            return rd_kafka_produceva(handle.pointer, fields.baseAddress!, count)
                        }
                    }
                }
            }
        }
    }
}

private func withOptionalBytes<Result>(
    _ bytes: [UInt8]?,
    _ body: (UnsafeRawBufferPointer?) -> Result
) -> Result {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}
