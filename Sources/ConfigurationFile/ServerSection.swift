import Core
import Foundation
import Yams

/// `server:`.
extension NodeReader {
    mutating func readServer(_ node: Node?) -> ServerSettings {
        var server = ServerSettings()
        let entries = mapping(
            node, key: "server",
            known: ["host", "port", "max_body_bytes", "shutdown_timeout", "request_head_timeout", "idle_timeout", "max_connections"]
        )
        if let host = string(entries["host"], key: "server.host") { server.host = host }
        if let port = int(entries["port"], key: "server.port", range: 0...65535) { server.port = port }
        if let bytes = int(entries["max_body_bytes"], key: "server.max_body_bytes", range: 1...(1 << 30)) {
            server.maxBodyBytes = bytes
        }
        if let timeout = duration(entries["shutdown_timeout"], key: "server.shutdown_timeout") {
            server.shutdownTimeout = timeout
        }
        if let timeout = duration(entries["request_head_timeout"], key: "server.request_head_timeout") {
            if timeout > .zero { server.requestHeadTimeout = timeout } else {
                problem("server.request_head_timeout", entries["request_head_timeout"], "must be greater than zero")
            }
        }
        if let timeout = duration(entries["idle_timeout"], key: "server.idle_timeout") {
            if timeout > .zero { server.idleTimeout = timeout } else {
                problem("server.idle_timeout", entries["idle_timeout"], "must be greater than zero")
            }
        }
        if let count = int(entries["max_connections"], key: "server.max_connections", range: 1...1_000_000) {
            server.maxConnections = count
        }
        return server
    }
}
