import App
import ArgumentParser
import Core
import Foundation
import Storage

/// `messagebridge keys create|list|revoke|rotate`: manage API keys in the store, also while the server runs.
///
/// A secret is printed once, by `create` and `rotate`; the store keeps only its SHA-256 hash and display prefix.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API keys (admin API, protected routes, /metrics).",
        subcommands: [Create.self, List.self, Revoke.self, Rotate.self]
    )

    /// The configured database's keys, without migrating it (see ``ConfigOption/openDatabase()``).
    static func openManager(_ config: ConfigOption) throws -> APIKeyManager {
        APIKeyManager(store: SQLiteAPIKeyStore(database: try config.openDatabase()))
    }

    /// Runs a key operation, printing a refusal and exiting 1.
    static func run<Value>(_ operation: () async throws -> Value) async throws -> Value {
        do {
            return try await operation()
        } catch let error as APIKeyManagementError {
            printError(error.message)
            throw ExitCode(1)
        }
    }

    static func parseDuration(_ text: String, option: String) throws -> Duration {
        guard let value = ConfigDuration.parse(text) else {
            throw ValidationError("\(option) must be a duration such as 30s, 24h or 90d, got \"\(text)\"")
        }
        return value
    }

    static func printIssued(_ issued: APIKeyManager.IssuedKey) {
        let key = issued.record
        print("id:      \(key.id)")
        print("name:    \(key.name)")
        print("scope:   \(key.scope.rawValue)")
        print("expires: \(key.expiresAt.map { RFC3339.string(from: $0) } ?? "never")")
        print("key:     \(issued.secret)")
        print("Store the key now: it is shown only this once.")
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key and print its secret once.")

        @OptionGroup var config: ConfigOption

        @Option(help: "A name that says who uses the key.")
        var name: String

        @Option(help: "admin, ingest or read.")
        var scope: String = APIKeyScope.admin.rawValue

        @Option(name: .customLong("expires-in"), help: "Lifetime, e.g. 90d or 12h; no expiry when left out.")
        var expiresIn: String?

        func validate() throws {
            guard APIKeyScope(rawValue: scope) != nil else {
                throw ValidationError("unknown scope \"\(scope)\"; use one of \(APIKeyScope.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let expiresIn { _ = try Keys.parseDuration(expiresIn, option: "--expires-in") }
        }

        func run() async throws {
            // validate() has checked both.
            let scope = APIKeyScope(rawValue: scope) ?? .admin
            let lifetime = try expiresIn.map { try Keys.parseDuration($0, option: "--expires-in") }
            let manager = try Keys.openManager(config)
            let issued = try await Keys.run { try await manager.create(name: name, scope: scope, expiresIn: lifetime) }
            Keys.printIssued(issued)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")

        @OptionGroup var config: ConfigOption

        func run() async throws {
            let manager = try Keys.openManager(config)
            let now = Date()
            let keys = try await manager.list()
            print("ID                    PREFIX       SCOPE   STATUS   NAME  CREATED  EXPIRES  LAST USED")
            for key in keys {
                let columns = [
                    key.id, key.displayPrefix.padding(toLength: 11, withPad: " ", startingAt: 0),
                    key.scope.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0),
                    key.state(at: now).padding(toLength: 7, withPad: " ", startingAt: 0),
                    key.name, RFC3339.string(from: key.createdAt),
                    key.expiresAt.map { RFC3339.string(from: $0) } ?? "never",
                    key.lastUsedAt.map { RFC3339.string(from: $0) } ?? "never",
                ]
                print(columns.joined(separator: "  "))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; it stops working at once.")

        @OptionGroup var config: ConfigOption

        @Argument(help: "The key's id, a unique start of it, or its display prefix.")
        var key: String

        func run() async throws {
            let manager = try Keys.openManager(config)
            let revoked = try await Keys.run { try await manager.revoke(key) }
            print("revoked \(revoked.id) (\(revoked.displayPrefix), \(revoked.name))")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a key a new secret; the old one keeps working for the grace period."
        )

        @OptionGroup var config: ConfigOption

        @Argument(help: "The key's id, a unique start of it, or its display prefix.")
        var key: String

        @Option(help: "How long the old secret keeps working, e.g. 24h or 0s.")
        var grace: String = "24h"

        func validate() throws {
            _ = try Keys.parseDuration(grace, option: "--grace")
        }

        func run() async throws {
            let graceDuration = try Keys.parseDuration(grace, option: "--grace")
            let manager = try Keys.openManager(config)
            let issued = try await Keys.run { try await manager.rotate(key, grace: graceDuration) }
            print("rotated; the old key works until \(RFC3339.string(from: Date().addingTimeInterval(graceDuration.seconds)))")
            Keys.printIssued(issued)
        }
    }
}
