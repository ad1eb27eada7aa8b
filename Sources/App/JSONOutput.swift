import Core
import Foundation
import Hummingbird

/// The one JSON encoder configuration for everything MessageBridge writes as JSON from `Codable` values: admin and
/// ops responses (through ``AppRequestContext/responseEncoder``) and the command line's `messages` output.
///
/// Keys are sorted and slashes are not escaped, so a document reads the same on every run and a URL or route path
/// (`/webhook/orders`) appears as written: the shapes the admin API, `/status` and `messages show` have always had.
enum JSONOutput {
    /// A compact encoder (one line), or an indented one for a human reader.
    static func makeEncoder(prettyPrinted: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = prettyPrinted ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        // Chat values carry `Date`s; they read as RFC 3339 with milliseconds, as in the event log's payloads.
        encoder.dateEncodingStrategy = ChatJSON.encoder().dateEncodingStrategy
        return encoder
    }

    /// The encoder every handler's `ResponseEncodable` value goes through. Shared: its settings never change after
    /// this point, and `JSONEncoder.encode` keeps no state between calls.
    static let responseEncoder = makeEncoder()

    /// `value` as a UTF-8 string.
    static func string(_ value: some Encodable, prettyPrinted: Bool = false) -> String {
        let encoder = prettyPrinted ? makeEncoder(prettyPrinted: true) : responseEncoder
        // The values are plain structs of strings, numbers, arrays and optionals of them: encoding cannot fail.
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension AppRequestContext {
    /// Hummingbird's encoder for `ResponseEncodable` handler results: ``JSONOutput/responseEncoder``, which writes
    /// `application/json; charset=utf-8`.
    public var responseEncoder: JSONEncoder { JSONOutput.responseEncoder }
}
