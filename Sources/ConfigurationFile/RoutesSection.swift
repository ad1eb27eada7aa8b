import Core
import Foundation
import Yams

/// `routes:` (their `verify:` and `dedup:` are in RouteSecuritySections.swift).
extension NodeReader {
    mutating func readRoutes(_ node: Node?, configuration: MessageBridgeConfiguration) -> [RouteSettings] {
        // No routes is a server for chat (and its ops endpoints) only.
        guard let node, node.null == nil else { return [] }
        guard case .sequence(let sequence) = node else {
            problem("routes", node, "expected a list of routes")
            return []
        }
        var routes: [RouteSettings] = []
        var seenPaths: Set<String> = []
        for (index, item) in sequence.enumerated() {
            let key = "routes[\(index)]"
            let entries = mapping(item, key: key, known: ["path", "queue", "destination", "kafka_key", "verify", "dedup", "require_api_key", "forward_credentials"])
            guard let written = required(entries["path"], key: "\(key).path", parent: item) else { continue }
            if !written.hasPrefix("/") || written.contains(" ") || written.contains("?") || written.contains("#") {
                problem("\(key).path", entries["path"], "must start with / and hold no spaces, ? or #, got \"\(written)\"")
                continue
            }
            // The form requests are matched in: `/a//b/` is the route `/a/b`, as the router sees it.
            let path = RequestPath.canonical(written)
            if !seenPaths.insert(path).inserted {
                problem("\(key).path", entries["path"], "\(path) is already used by an earlier route")
            }
            if reservedPaths.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
                problem("\(key).path", entries["path"], "\(path) is reserved for the server's own endpoints")
            }
            var route = RouteSettings(path: path)
            route.queue = string(entries["queue"], key: "\(key).queue")
            route.kafkaKey = readKafkaKey(entries["kafka_key"], key: "\(key).kafka_key")
            route.verification = readVerify(entries["verify"], key: "\(key).verify")
            route.dedup = readDedup(entries["dedup"], key: "\(key).dedup")
            if let value = bool(entries["require_api_key"], key: "\(key).require_api_key") { route.requiresAPIKey = value }
            for (index, name) in (stringList(entries["forward_credentials"], key: "\(key).forward_credentials") ?? []).enumerated() {
                if !route.credentialHeaders.isCredential(name) {
                    problem(
                        "\(key).forward_credentials[\(index)]", entries["forward_credentials"],
                        "\(name) is not a credential header of this route (Authorization, Proxy-Authorization, Cookie or its verify header); other headers are always forwarded"
                    )
                } else {
                    route.forwardCredentials.append(name)
                }
            }
            if entries["destination"] != nil {
                route.destination = httpURL(entries["destination"], key: "\(key).destination", parent: item)
                if route.destination == nil { continue }
            }
            if configuration.destination(for: route) == nil {
                if route.queue != nil {
                    problem(
                        "\(key).queue", entries["queue"],
                        "route \(path) delivers to Kafka topic \(route.queue!) but kafka.brokers is not configured"
                    )
                } else {
                    problem(key, item, "route \(path) has no destination: set destination, remote_url or queue with kafka")
                }
            }
            routes.append(route)
        }
        return routes
    }

    mutating func readKafkaKey(_ node: Node?, key: String) -> RequestField? {
        guard let node else { return nil }
        let entries = mapping(node, key: key, known: ["header", "json_field"])
        return requestField(entries, node: node, key: key)
    }
}
