import Foundation

/// A value taken from a request: a header, or a field of a JSON body. Names a route's idempotency key (`dedup`) and
/// its Kafka record key (`kafka_key`).
public enum RequestField: Sendable, Equatable {
    /// A request header, e.g. `webhook-id`, `X-GitHub-Delivery` or `Idempotency-Key`.
    case header(String)
    /// A field of a JSON body, as a dot path split into its parts (`["data", "object", "id"]`).
    case jsonField([String])

    /// The field's value in a request, or nil when the header or field is absent or empty.
    /// - Parameter header: looks a header up by name, case-insensitively.
    public func value(body: some Collection<UInt8>, header: (String) -> String?) -> String? {
        switch self {
        case .header(let name):
            let value = header(name)?.trimmingCharacters(in: .whitespaces)
            return value?.isEmpty == false ? value : nil
        case .jsonField(let path):
            return Self.jsonValue(at: path, in: body)
        }
    }

    /// The field's value as an identity, for idempotency keys: like ``value(body:header:)``, except that a JSON
    /// number is marked as one (`number:12345`), so `{"id": 12345}` and `{"id": "12345"}` are different keys, as
    /// they are different values.
    public func identity(body: some Collection<UInt8>, header: (String) -> String?) -> String? {
        switch self {
        case .header:
            return value(body: body, header: header)
        case .jsonField(let path):
            return Self.jsonScalar(at: path, in: body).map { scalar in
                switch scalar {
                case .string(let text): text
                case .number(let text): "number:" + text
                }
            }
        }
    }

    /// A string or number at a dot path in a JSON object body, as text.
    static func jsonValue(at path: [String], in body: some Collection<UInt8>) -> String? {
        switch jsonScalar(at: path, in: body) {
        case .string(let text), .number(let text): text
        case nil: nil
        }
    }

    private enum JSONScalar {
        case string(String)
        case number(String)
    }

    private static func jsonScalar(at path: [String], in body: some Collection<UInt8>) -> JSONScalar? {
        guard var current = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            return nil
        }
        for component in path {
            guard let object = current as? [String: Any], let next = object[component] else { return nil }
            current = next
        }
        switch current {
        case let text as String: return text.isEmpty ? nil : .string(text)
        case let number as NSNumber: return .number(number.stringValue)
        default: return nil
        }
    }
}
