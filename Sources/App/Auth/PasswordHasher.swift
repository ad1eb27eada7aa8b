import HummingbirdBcrypt
import NIOPosix

/// bcrypt, run on NIO's blocking thread pool: a hash at cost 12 takes a few hundred milliseconds of CPU, which
/// must not hold a thread of the cooperative pool.
struct PasswordHasher: Sendable {
    let cost: UInt8

    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// A hash to compare against when the account does not exist, so a wrong username costs as long as a wrong
    /// password and the timing does not tell which accounts exist.
    static let decoyHash = "$2b$12$C6UzMDM.H6dfI/f/IKxGhuGhIXH4xCRfRqWAxlHNEPIdQXLVHS0tK"
}
