import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

/// bcrypt, run on NIO's blocking thread pool: a hash at cost 12 takes a few hundred milliseconds of CPU, which
/// must not hold a thread of the cooperative pool.
///
/// bcrypt reads at most 72 bytes, so the password is first reduced to the base64 of its SHA-256 (44 bytes): a long
/// password is not silently cut to its first 72 bytes, and every character counts.
struct PasswordHasher: Sendable {
    let cost: UInt8

    func hash(_ password: String) async throws -> String {
        let cost = self.cost
        let input = Self.reduced(password)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(input, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        let input = Self.reduced(password)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(input, hash: hash) }
    }

    private static func reduced(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }

    /// A hash to compare against when the account does not exist, so a wrong username costs as long as a wrong
    /// password and the timing does not tell which accounts exist.
    static let decoyHash = "$2b$12$C6UzMDM.H6dfI/f/IKxGhuGhIXH4xCRfRqWAxlHNEPIdQXLVHS0tK"
}
