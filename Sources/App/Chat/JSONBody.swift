import Foundation
import Hummingbird

/// A JSON value, decoded strictly: `true` is a Boolean, never the number 1.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The JSON type's name, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A request's JSON object, read field by field so that every error names its field: a missing required field, a
/// field of the wrong type, and a field the endpoint does not know are each a 400 that says which.
struct JSONBody {
    private let fields: [String: JSONValue]

    /// Parses `data` as one JSON object whose keys are all in `allowed`.
    init(data: some DataProtocol, allowed: Set<String>) throws {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(data))
        } catch {
            throw APIError(.badRequest, code: "invalid_json", message: "the body is not valid JSON")
        }
        guard case .object(let fields) = value else {
            throw APIError(.badRequest, code: "invalid_json", message: "the body must be a JSON object, not \(value.typeName)")
        }
        if let unknown = fields.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw APIError(
                .badRequest, code: "unknown_field",
                message: "unknown field \(unknown); allowed: \(allowed.sorted().joined(separator: ", "))"
            )
        }
        self.fields = fields
    }

    /// Reads a request body (at most `limit` bytes) as a JSON object; an empty body reads as `{}` when allowed.
    static func read(_ request: Request, allowed: Set<String>, limit: Int = 64 * 1024, allowEmpty: Bool = false) async throws -> JSONBody {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "the body is larger than \(limit) bytes")
        }
        if allowEmpty && buffer.readableBytes == 0 { return try JSONBody(data: Data("{}".utf8), allowed: allowed) }
        return try JSONBody(data: buffer.readableBytesView, allowed: allowed)
    }

    /// True when the field is present (even as `null`).
    func has(_ name: String) -> Bool { fields[name] != nil }

    /// A field's value as parsed.
    func value(_ name: String) -> JSONValue? { fields[name] }

    /// A string field; nil when absent (or `null`, where `nullable`), unless required.
    func string(_ name: String, required: Bool = false, nullable: Bool = false) throws -> String? {
        switch fields[name] {
        case .string(let value): return value
        case nil:
            if required { throw Self.missing(name) }
            return nil
        case .null? where nullable && !required:
            return nil
        case let other?: throw Self.wrongType(name, expected: "a string", got: other)
        }
    }

    /// An integer field; nil when absent (or `null`, where `nullable`), unless required.
    func integer(_ name: String, required: Bool = false, nullable: Bool = false) throws -> Int64? {
        switch fields[name] {
        case .integer(let value): return value
        case nil:
            if required { throw Self.missing(name) }
            return nil
        case .null? where nullable && !required:
            return nil
        case let other?: throw Self.wrongType(name, expected: "an integer", got: other)
        }
    }

    /// An array of integers; empty when absent.
    func integers(_ name: String) throws -> [Int64] {
        switch fields[name] {
        case nil: return []
        case .array(let items)?:
            return try items.map { item in
                guard case .integer(let value) = item else { throw Self.wrongType(name, expected: "an array of integers", got: item) }
                return value
            }
        case let other?: throw Self.wrongType(name, expected: "an array of integers", got: other)
        }
    }

    static func missing(_ name: String) -> APIError {
        APIError(.badRequest, code: "missing_field", message: "\(name) is required")
    }

    static func wrongType(_ name: String, expected: String, got value: JSONValue) -> APIError {
        APIError(.badRequest, code: "invalid_field", message: "\(name) must be \(expected), not \(value.typeName)")
    }

    static func invalid(_ name: String, _ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_field", message: "\(name) \(message)")
    }
}
