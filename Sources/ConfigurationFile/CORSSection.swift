import Core
import Foundation
import Yams

/// `cors:`.
extension NodeReader {
    /// `cors:`.
    mutating func readCORS(_ node: Node?) -> CORSSettings? {
        guard let node, node.null == nil else { return nil }
        let key = "cors"
        let entries = mapping(node, key: key, known: ["allowed_origins", "allowed_methods", "allowed_headers", "max_age"])
        let origins = stringList(entries["allowed_origins"], key: "\(key).allowed_origins") ?? []
        if origins.isEmpty {
            problem("\(key).allowed_origins", entries["allowed_origins"] ?? node, "at least one origin is required")
            return nil
        }
        for (index, origin) in origins.enumerated() where origin != "*" {
            // Browsers send scheme://host[:port] with no path or trailing slash; anything else never matches.
            let url = URL(string: origin)
            let isOrigin = url?.scheme.map { ["http", "https"].contains($0.lowercased()) } == true
                && url?.host?.isEmpty == false && (url?.path ?? "").isEmpty && url?.query == nil
            if !isOrigin {
                problem("\(key).allowed_origins[\(index)]", entries["allowed_origins"], "expected an origin such as https://app.example.com (no path), got \"\(origin)\"")
            }
        }
        var settings = CORSSettings(allowedOrigins: origins)
        if let methods = stringList(entries["allowed_methods"], key: "\(key).allowed_methods") {
            settings.allowedMethods = methods.map { $0.uppercased() }
        }
        if let headers = stringList(entries["allowed_headers"], key: "\(key).allowed_headers") {
            settings.allowedHeaders = headers
        }
        if let maxAge = duration(entries["max_age"], key: "\(key).max_age") { settings.maxAge = maxAge }
        return settings
    }
}
