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

    /// A string or number at a dot path in a JSON object body, as text.
    static func jsonValue(at path: [String], in body: some Collection<UInt8>) -> String? {
        guard var current = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]) else {
            return nil
        }
        for component in path {
            guard let object = current as? [String: Any], let next = object[component] else { return nil }
            current = next
        }
        switch current {
        case let text as String: return text.isEmpty ? nil : text
        case let number as NSNumber: return number.stringValue
        default: return nil
        }
    }
}
