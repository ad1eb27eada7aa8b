import Core
import Foundation
import Yams

/// `remote_url:`.
extension NodeReader {
    mutating func readRemoteURL(_ node: Node?, present: Bool) -> RemoteURLSettings? {
        guard present || environment["MESSAGEBRIDGE_REMOTE_URL"] != nil else { return nil }
        let entries = mapping(node, key: "remote_url", known: ["url", "timeout", "retries"])
        guard let url = httpURL(entries["url"], key: "remote_url.url", parent: node) else { return nil }
        var settings = RemoteURLSettings(url: url)
        if let timeout = duration(entries["timeout"], key: "remote_url.timeout", minimum: .milliseconds(1)) {
            settings.timeout = timeout
        }
        if let retries = int(entries["retries"], key: "remote_url.retries", range: 0...10) { settings.retries = retries }
        return settings
    }
}
