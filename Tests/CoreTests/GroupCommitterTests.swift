import Core
import Synchronization
import Testing

@Suite("Group commit")
struct GroupCommitterTests {
    @Test("concurrent submissions share commits and each gets its own output")
    func batching() async throws {
        let batches = Mutex<[Int]>([])
        let committer = GroupCommitter<Int, Int> { items in
            batches.withLock { $0.append(items.count) }
            try await Task.sleep(for: .milliseconds(2))
            return items.map { $0 * 10 }
        }
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for index in 0..<500 {
                group.addTask { (index, try await committer.submit(index)) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 500)
        #expect(results.allSatisfy { $0.value == $0.key * 10 })
        let sizes = batches.withLock { $0 }
        #expect(sizes.reduce(0, +) == 500)
        #expect(sizes.count < 500, "concurrent submissions must be batched")
    }

    @Test("a failed commit fails every item in it, and later commits still work")
    func failure() async throws {
        struct DiskFull: Error {}
        let shouldFail = Atomic(true)
        let committer = GroupCommitter<Int, Int> { items in
            if shouldFail.load(ordering: .relaxed) { throw DiskFull() }
            return items
        }
        await #expect(throws: DiskFull.self) { try await committer.submit(1) }
        shouldFail.store(false, ordering: .relaxed)
        #expect(try await committer.submit(2) == 2)
    }
}

@Suite("Group commit and cancellation")
struct GroupCommitterCancellationTests {
    @Test("a cancelled leader still commits the batch it carries for the others")
    func cancelledLeader() async throws {
        let committer = GroupCommitter<Int, Int> { items in
            // Task.sleep throws if the committing task is cancelled: it must not be.
            try await Task.sleep(for: .milliseconds(100))
            return items
        }
        // The first commit carries 0 alone; 1...5 queue behind it, and 1 leads the second commit for all five.
        let first = Task { try await committer.submit(0) }
        try await Task.sleep(for: .milliseconds(20))
        let secondLeader = Task { try await committer.submit(1) }
        try await Task.sleep(for: .milliseconds(10))
        let followers = (2...5).map { value in Task { try await committer.submit(value) } }
        #expect(try await first.value == 0)
        // Cancel the second batch's leader while it commits.
        try await Task.sleep(for: .milliseconds(30))
        secondLeader.cancel()
        for (index, follower) in followers.enumerated() {
            #expect(try await follower.value == index + 2)
        }
        #expect(try await secondLeader.value == 1)
    }
}
