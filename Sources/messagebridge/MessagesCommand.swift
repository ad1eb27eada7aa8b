import App
import ArgumentParser
import Core
import Foundation
import Storage

/// `messagebridge messages list|show|retry`: inspect and replay messages in the store, also while the server runs.
struct Messages: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and replay stored messages.",
        subcommands: [List.self, Show.self, Retry.self]
    )

    /// The configured database's messages, without migrating it (see ``ConfigOption/openDatabase()``).
    static func openStore(_ config: ConfigOption) throws -> SQLiteMessageStore {
        SQLiteMessageStore(database: try config.openDatabase())
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List messages, newest first.")

        @OptionGroup var config: ConfigOption

        @Option(help: "Only messages in this status: \(MessageStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
        var status: String?

        @Option(help: "At most this many.")
        var limit: Int = 50

        @Flag(help: "Print JSON lines instead of a table.")
        var json = false

        func run() async throws {
            var parsedStatus: MessageStatus?
            if let status {
                guard let value = MessageStatus(rawValue: status) else {
                    printError("unknown status \"\(status)\"; use one of \(MessageStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                    throw ExitCode(1)
                }
                parsedStatus = value
            }
            let store = try Messages.openStore(config)
            let messages = try await store.messages(matching: MessageQuery(status: parsedStatus, limit: max(1, limit)))
            if json {
                for message in messages { print(MessageJSON.summary(message)) }
                return
            }
            print("ID                                    STATUS      ATTEMPTS  ROUTE  DESTINATION  ACCEPTED")
            for stored in messages {
                let message = stored.message
                print("\(message.id)  \(stored.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0))  \(String(stored.attemptCount).padding(toLength: 8, withPad: " ", startingAt: 0))  \(message.route)  \(message.destination.redactedDescription)  \(RFC3339.string(from: message.acceptedAt))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one message with its attempts (JSON).")

        @OptionGroup var config: ConfigOption

        @Argument(help: "The message id.")
        var id: String

        func run() async throws {
            let store = try Messages.openStore(config)
            let messageID = MessageID(rawValue: id)
            guard let message = try await store.message(id: messageID) else {
                printError("no message \(id)")
                throw ExitCode(1)
            }
            let attempts = try await store.attempts(messageID: messageID)
            // The route's signature header is a credential too: shown redacted, like the admin API shows it.
            let route = try config.load().routes.first { $0.path == message.message.route }
            print(MessageJSON.detail(message, attempts: attempts, credentials: route?.credentialHeaders ?? .standard))
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a failed message (or every failed message) due now.")

        @OptionGroup var config: ConfigOption

        @Argument(help: "The message id.")
        var id: String?

        @Flag(name: .customLong("all-failed"), help: "Retry every failed message.")
        var allFailed = false

        func validate() throws {
            if (id == nil) == !allFailed {
                throw ValidationError("give either a message id or --all-failed")
            }
        }

        func run() async throws {
            let store = try Messages.openStore(config)
            if allFailed {
                let count = try await store.retryAllFailed(now: Date())
                print("\(count) failed messages queued for delivery")
                return
            }
            guard let id else { return }
            guard try await store.retry(id: MessageID(rawValue: id), now: Date()) else {
                printError("no failed or retrying message \(id)")
                throw ExitCode(1)
            }
            print("\(id) queued for delivery")
        }
    }
}
