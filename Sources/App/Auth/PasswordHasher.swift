import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// bcrypt, run on NIO's blocking thread pool: a hash at cost 12 takes a few hundred milliseconds of CPU, which
/// must not hold a thread of the cooperative pool.
///
/// bcrypt reads at most 72 bytes, so the password is first reduced to the base64 of its SHA-256 (44 bytes): a long
/// password is not silently cut to its first 72 bytes, and every character counts.
struct PasswordHasher: Sendable {
    let cost: UInt8
    private let decoy = Decoy()

    init(cost: UInt8) {
        self.cost = cost
    }

    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        let input = Self.reduced(password)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(input, cost: cost) }
    }

    /// Whether `password` matches `hash`. Without a hash (no such account) it is checked against a decoy at the
    /// same cost, so a wrong username costs as long as a wrong password and the timing does not tell which
    /// accounts exist.
    func verify(_ password: String, hash: String?) async throws -> Bool {
        let stored: String
        if let hash { stored = hash } else { stored = try await decoy.hash(by: self) }
        let input = Self.reduced(password)
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(input, hash: stored) }
        return hash != nil && matches
    }

    private static func reduced(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }

    /// The decoy hash of a random password, made on the first login that needs it rather than at start: a server
    /// (or a test suite of many) that never sees an unknown account never pays for it.
    private final class Decoy: Sendable {
        private let task = Mutex<Task<String, any Error>?>(nil)

        func hash(by hasher: PasswordHasher) async throws -> String {
            let task = task.withLock { slot in
                if let task = slot { return task }
                let made = Task { try await hasher.hash(UUID().uuidString) }
                slot = made
                return made
            }
            return try await task.value
        }
    }
}
