import App
import ArgumentParser
import Core
import Foundation
import Storage

/// `messagebridge endpoints create|list|show|update|disable|enable|rotate-secret|delete|replay`: event-webhook
/// endpoints in the store, also while the server runs (it reads them on its next pass, within
/// `webhooks.poll_interval`). Checks and refusals are the admin API's (``EndpointManager``); a secret is printed only
/// by `create` and `rotate-secret`.
struct Endpoints: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage event-webhook endpoints (subscriptions to message.*, webhook.*, ... events).",
        subcommands: [Create.self, List.self, Show.self, Update.self, Disable.self, Enable.self, RotateSecret.self, Delete.self, Replay.self]
    )

    /// The configured database's endpoints, checked with the configured `webhooks.allow_networks`.
    static func openManager(_ config: ConfigOption) throws -> EndpointManager {
        let configuration = try config.load()
        return EndpointManager(store: SQLiteEndpointStore(database: try config.openDatabase()), settings: configuration.webhooks)
    }

    /// Runs an operation, printing a refusal (the admin API's message) and exiting 1.
    static func run<Value>(_ operation: () async throws -> Value) async throws -> Value {
        do {
            return try await operation()
        } catch let error as APIError {
            printError("\(error.code): \(error.message)")
            throw ExitCode(1)
        }
    }

    static func show(_ endpoint: EventEndpoint, secret: String? = nil) {
        print(EndpointText.describe(endpoint, secret: secret))
    }

    /// Opens the manager, runs `operation` and prints the endpoint it answers: what show, update, disable and
    /// enable share.
    static func showResult(_ config: ConfigOption, _ operation: (EndpointManager) async throws -> EventEndpoint) async throws {
        let manager = try openManager(config)
        show(try await run { try await operation(manager) })
    }

    /// The options `create` and `update` share.
    struct Fields: ParsableArguments {
        @Option(help: "Where events are POSTed (http or https).")
        var url: String?

        @Option(help: "What the endpoint is for.")
        var description: String?

        @Option(parsing: .upToNextOption, help: "Event types (message.created, message.*, webhook.failed, *, ...); every event when left out. Comma-separated or several values.")
        var events: [String] = []

        @Option(name: .customLong("room"), help: "Only chat events of this room (repeat for several).")
        var rooms: [Int64] = []

        @Option(name: .customLong("route"), help: "Only webhook.* events of this route path (repeat for several).")
        var routes: [String] = []

        @Option(name: .customLong("header"), help: "A static header, \"Name: value\" (repeat for several).")
        var headers: [String] = []

        @Option(name: .customLong("rate-limit"), help: "Requests per second at most.")
        var rateLimit: Int?

        func changes(isUpdate: Bool) throws -> EndpointManager.Changes {
            var changes = EndpointManager.Changes()
            changes.url = url
            changes.description = description
            let eventList = events.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
            if !eventList.isEmpty || !isUpdate { changes.events = eventList }
            if !rooms.isEmpty { changes.rooms = rooms }
            if !routes.isEmpty { changes.routes = routes }
            if !headers.isEmpty {
                var parsed: [String: String] = [:]
                for header in headers {
                    guard let colon = header.firstIndex(of: ":") else {
                        throw ValidationError("--header must be \"Name: value\", got \"\(header)\"")
                    }
                    parsed[String(header[..<colon]).trimmingCharacters(in: .whitespaces)] =
                        String(header[header.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
                }
                changes.headers = parsed
            }
            if let rateLimit { changes.rateLimit = .some(rateLimit) }
            return changes
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Subscribe an endpoint and print its signing secret once.")

        @OptionGroup var config: ConfigOption
        @OptionGroup var fields: Fields

        @Option(help: "hmac (whsec_ secret, v1 signatures) or ed25519 (v1a signatures, whpk_ public key).")
        var signing: String = "hmac"

        @Option(help: "The signing secret to use (whsec_... or whsk_...); generated when left out.")
        var secret: String?

        @Flag(help: "Make it disabled.")
        var disabled = false

        func run() async throws {
            guard fields.url != nil else { throw ValidationError("--url is required") }
            var changes = try fields.changes(isUpdate: false)
            changes.signing = signing
            changes.secret = secret
            if disabled { changes.enabled = false }
            let manager = try Endpoints.openManager(config)
            let created = try await Endpoints.run { try await manager.create(changes) }
            Endpoints.show(created.endpoint, secret: created.secret)
            print("Store the secret now: it is shown only this once.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints (never their secrets).")

        @OptionGroup var config: ConfigOption

        @Flag(help: "JSON, as the admin API answers.")
        var json = false

        func run() async throws {
            let endpoints = try await Endpoints.openManager(config).endpoints()
            if json {
                print(EndpointText.json(endpoints))
                return
            }
            print("ID                            STATE     EVENTS  URL")
            for endpoint in endpoints {
                let events = endpoint.eventTypes.isEmpty ? "*" : endpoint.eventTypes.map(\.text).joined(separator: ",")
                print([endpoint.id, (endpoint.isEnabled ? "enabled" : "disabled").padding(toLength: 8, withPad: " ", startingAt: 0), events, endpoint.url]
                    .joined(separator: "  "))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One endpoint.")

        @OptionGroup var config: ConfigOption
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        func run() async throws {
            try await Endpoints.showResult(config) { try await $0.endpoint(id: id) }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an endpoint's URL, description, events, filters, headers or rate limit.")

        @OptionGroup var config: ConfigOption
        @Argument(help: "The endpoint's id (ep_...).") var id: String
        @OptionGroup var fields: Fields

        func run() async throws {
            let changes = try fields.changes(isUpdate: true)
            try await Endpoints.showResult(config) { try await $0.update(id: id, changes) }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop sending; events are held for a replay.")

        @OptionGroup var config: ConfigOption
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        func run() async throws {
            try await Endpoints.showResult(config) { try await $0.setEnabled(id: id, false) }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send again from now on (held events wait for `replay`).")

        @OptionGroup var config: ConfigOption
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        func run() async throws {
            try await Endpoints.showResult(config) { try await $0.setEnabled(id: id, true) }
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret", abstract: "A new signing secret; the old one keeps signing for the grace period."
        )

        @OptionGroup var config: ConfigOption
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        @Option(help: "How long the old secret keeps signing, e.g. 24h or 0s (webhooks.rotation_grace when left out).")
        var grace: String?

        @Option(help: "The new secret; generated when left out.")
        var secret: String?

        func run() async throws {
            let graceDuration = try grace.map { text -> Duration in
                guard let value = ConfigDuration.parse(text) else { throw ValidationError("--grace must be a duration such as 24h, got \"\(text)\"") }
                return value
            }
            let manager = try Endpoints.openManager(config)
            let rotated = try await Endpoints.run { try await manager.rotateSecret(id: id, secret: secret, grace: graceDuration) }
            Endpoints.show(rotated.endpoint, secret: rotated.secret)
            print("Store the secret now: it is shown only this once.")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an endpoint with its deliveries.")

        @OptionGroup var config: ConfigOption
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        func run() async throws {
            let manager = try Endpoints.openManager(config)
            try await Endpoints.run { try await manager.delete(id: id) }
            print("deleted \(id)")
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue again the held and failed deliveries since a time.")

        @OptionGroup var config: ConfigOption
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        @Option(help: "An RFC 3339 UTC time, e.g. 2026-12-01T00:00:00Z.")
        var since: String

        func run() async throws {
            guard let date = Timestamp.parse(since) else { throw ValidationError("--since must be an RFC 3339 UTC time such as 2026-12-01T00:00:00Z") }
            let manager = try Endpoints.openManager(config)
            let count = try await Endpoints.run { try await manager.replay(id: id, since: date) }
            print("requeued \(count) deliveries")
        }
    }
}
