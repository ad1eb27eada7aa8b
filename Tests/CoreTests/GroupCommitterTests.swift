import Core
import Foundation
import Synchronization
import Testing

/// Submits 0..<500 concurrently and checks every caller got `10 × item` back and that commits were shared.
func expectBatched(submit: @escaping @Sendable (Int) async throws -> Int, batches: borrowing Mutex<[Int]>) async throws {
    let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
        for index in 0..<500 {
            group.addTask { (index, try await submit(index)) }
        }
        return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
    }
    #expect(results.count == 500)
    #expect(results.allSatisfy { $0.value == $0.key * 10 })
    let sizes = batches.withLock { $0 }
    #expect(sizes.reduce(0, +) == 500)
    #expect(sizes.count < 500, "concurrent submissions must be batched")
}

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
        try await expectBatched(submit: committer.submit, batches: batches)
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

@Suite("Group commit on a dedicated thread")
struct ThreadGroupCommitterTests {
    @Test("concurrent submissions share commits, run on the commit thread, and each gets its own output")
    func batching() async throws {
        let batches = Mutex<[Int]>([])
        let threadNames = Mutex<Set<String>>([])
        let committer = ThreadGroupCommitter<Int, Int>(name: "test-commit") { items in
            batches.withLock { $0.append(items.count) }
            threadNames.withLock { _ = $0.insert(currentThreadName()) }
            Thread.sleep(forTimeInterval: 0.002)  // a blocking write, as SQLite's fsync is
            return items.map { $0 * 10 }
        }
        try await expectBatched(submit: committer.submit, batches: batches)
        #expect(threadNames.withLock { $0 } == ["test-commit"])
    }

    @Test("batches never exceed the maximum size")
    func maxBatchSize() async throws {
        let largest = Mutex(0)
        let committer = ThreadGroupCommitter<Int, Int>(name: "test-commit", maxBatchSize: 7) { items in
            largest.withLock { $0 = max($0, items.count) }
            Thread.sleep(forTimeInterval: 0.001)
            return items
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let output = try await committer.submit(index)
                    #expect(output == index)
                }
            }
            try await group.waitForAll()
        }
        let size = largest.withLock { $0 }
        #expect(size <= 7)
        #expect(size > 1)
    }

    @Test("a failed commit fails every item in it, and later commits still work")
    func failure() async throws {
        struct DiskFull: Error {}
        let shouldFail = Atomic(true)
        let committer = ThreadGroupCommitter<Int, Int>(name: "test-commit") { items in
            if shouldFail.load(ordering: .relaxed) { throw DiskFull() }
            return items
        }
        await #expect(throws: DiskFull.self) { try await committer.submit(1) }
        shouldFail.store(false, ordering: .relaxed)
        #expect(try await committer.submit(2) == 2)
    }

    @Test("a cancelled caller still waits for its commit and learns its output")
    func cancelledCaller() async throws {
        let committed = Mutex<[Int]>([])
        let committer = ThreadGroupCommitter<Int, Int>(name: "test-commit") { items in
            Thread.sleep(forTimeInterval: 0.05)
            committed.withLock { $0 += items }
            return items
        }
        let caller = Task { try await committer.submit(42) }
        try await Task.sleep(for: .milliseconds(10))
        caller.cancel()
        #expect(try await caller.value == 42)
        #expect(committed.withLock { $0 } == [42])
    }

    @Test("the commit thread ends when the committer is released")
    func threadEnds() async throws {
        /// Captured by the commit closure, which only the commit thread's state holds: released when it stops.
        final class Flag: Sendable {
            private let value = Atomic(false)
            var isSet: Bool { value.load(ordering: .relaxed) }
            func set() { value.store(true, ordering: .relaxed) }
        }
        final class Sentinel: Sendable {
            let flag: Flag
            init(_ flag: Flag) { self.flag = flag }
            deinit { flag.set() }
        }
        let released = Flag()
        var committer: ThreadGroupCommitter<Int, Int>?
        do {
            let sentinel = Sentinel(released)
            committer = ThreadGroupCommitter(name: "test-commit") { items in
                withExtendedLifetime(sentinel) {}
                return items
            }
        }
        #expect(try await committer?.submit(1) == 1)
        #expect(!released.isSet)
        committer = nil
        let deadline = ContinuousClock.now + .seconds(5)
        while !released.isSet, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(released.isSet, "the commit thread must stop and release its state")
    }
}

/// The calling thread's name as the kernel has it.
func currentThreadName() -> String {
    #if os(Linux)
    let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
    return name.trimmingCharacters(in: .newlines)
    #else
    return Thread.current.name ?? ""
    #endif
}
