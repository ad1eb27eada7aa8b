import Core
import Foundation
import Yams

/// `auth:` and `chat:`.
extension NodeReader {
    mutating func readAuth(_ node: Node?) -> AuthSettings {
        var settings = AuthSettings()
        let key = "auth"
        let entries = mapping(node, key: key, known: [
            "registration", "jwt_secret", "jwt_key_id", "jwt_expiration", "jwt_refresh_secret", "jwt_refresh_expiration",
            "jwt_previous_keys", "bcrypt_cost", "login_rate_limit",
        ])
        if let text = string(entries["registration"], key: "\(key).registration") {
            if let registration = AuthSettings.Registration(rawValue: text) {
                settings.registration = registration
            } else {
                problem("\(key).registration", entries["registration"], "expected open, closed or invite, got \"\(text)\"")
            }
        }
        let keyID = string(entries["jwt_key_id"], key: "\(key).jwt_key_id") ?? "k1"
        if let secret = readSecret(entries["jwt_secret"], key: "\(key).jwt_secret") {
            settings.accessKey = .init(id: keyID, secret: secret)
        }
        if let secret = readSecret(entries["jwt_refresh_secret"], key: "\(key).jwt_refresh_secret") {
            if settings.accessKey == nil {
                problem("\(key).jwt_refresh_secret", entries["jwt_refresh_secret"], "needs auth.jwt_secret as well")
            }
            settings.refreshKey = .init(id: "\(keyID)-refresh", secret: secret)
        }
        if let lifetime = duration(entries["jwt_expiration"], key: "\(key).jwt_expiration", minimum: .seconds(1)) {
            settings.accessTokenLifetime = lifetime
        }
        if let lifetime = duration(entries["jwt_refresh_expiration"], key: "\(key).jwt_refresh_expiration", minimum: .seconds(1)) {
            settings.refreshTokenLifetime = lifetime
        }
        if let previous = entries["jwt_previous_keys"] {
            if case .sequence(let items) = previous {
                for (index, item) in items.enumerated() {
                    let itemKey = "\(key).jwt_previous_keys[\(index)]"
                    let fields = mapping(item, key: itemKey, known: ["kid", "secret"])
                    guard let kid = required(fields["kid"], key: "\(itemKey).kid", parent: item),
                          let secret = readSecret(fields["secret"], key: "\(itemKey).secret")
                    else { continue }
                    if kid == keyID { problem("\(itemKey).kid", fields["kid"], "is the current key's id") }
                    settings.verificationKeys.append(.init(id: kid, secret: secret))
                }
            } else {
                problem("\(key).jwt_previous_keys", previous, "expected a list of {kid, secret}")
            }
        }
        if let cost = int(entries["bcrypt_cost"], key: "\(key).bcrypt_cost", range: 4...31) { settings.bcryptCost = cost }
        if let limits = entries["login_rate_limit"] {
            let fields = mapping(limits, key: "\(key).login_rate_limit", known: ["per_ip", "per_account"])
            for (name, path) in [("per_ip", \AuthSettings.loginLimitPerIP), ("per_account", \AuthSettings.loginLimitPerAccount)] {
                guard let ruleNode = fields[name] else { continue }
                let ruleKey = "\(key).login_rate_limit.\(name)"
                let rule = mapping(ruleNode, key: ruleKey, known: ["limit", "period", "burst"])
                let limit = int(rule["limit"], key: "\(ruleKey).limit", range: 1...1_000_000)
                let period = duration(rule["period"], key: "\(ruleKey).period", minimum: .milliseconds(1))
                let burst = int(rule["burst"], key: "\(ruleKey).burst", range: 1...1_000_000)
                guard let limit, let period else {
                    problem(ruleKey, ruleNode, "needs limit and period")
                    continue
                }
                settings[keyPath: path] = RateLimitRule(limit: limit, period: period, burst: burst)
            }
        }
        return settings
    }

    /// A signing secret: at least 32 bytes, since HS256 with a shorter key is guessable (and jwt-kit refuses it).
    private mutating func readSecret(_ node: Node?, key: String) -> String? {
        guard let secret = string(node, key: key) else { return nil }
        guard secret.utf8.count >= 32 else {
            problem(key, node, "must be at least 32 bytes long, got \(secret.utf8.count)")
            return nil
        }
        return secret
    }

    mutating func readChat(_ node: Node?) -> ChatSettings {
        var settings = ChatSettings()
        let key = "chat"
        let entries = mapping(node, key: key, known: [
            "max_message_bytes", "send_buffer_events", "max_frame_bytes", "ping_interval", "auth_timeout", "max_frame_errors",
            "max_attachment_bytes", "attachments_directory", "attachment_retention",
        ])
        if let value = duration(entries["attachment_retention"], key: "\(key).attachment_retention", minimum: .seconds(1)) {
            settings.attachmentRetention = value
        }
        if let value = int(entries["max_attachment_bytes"], key: "\(key).max_attachment_bytes", range: 1...(1 << 31)) {
            settings.maxAttachmentBytes = value
        }
        if let value = string(entries["attachments_directory"], key: "\(key).attachments_directory") {
            if value.isEmpty { problem("\(key).attachments_directory", entries["attachments_directory"], "must not be empty") }
            settings.attachmentsDirectory = value.isEmpty ? nil : value
        }
        if let value = int(entries["max_message_bytes"], key: "\(key).max_message_bytes", range: 1...(1 << 24)) {
            settings.maxMessageBytes = value
        }
        if let value = int(entries["send_buffer_events"], key: "\(key).send_buffer_events", range: 8...1_000_000) {
            settings.sendBufferEvents = value
        }
        if let value = int(entries["max_frame_bytes"], key: "\(key).max_frame_bytes", range: 1024...(1 << 24)) {
            settings.maxFrameBytes = value
        }
        if let value = duration(entries["ping_interval"], key: "\(key).ping_interval", minimum: .milliseconds(100)) {
            settings.pingInterval = value
        }
        if let value = duration(entries["auth_timeout"], key: "\(key).auth_timeout", minimum: .milliseconds(100)) {
            settings.authTimeout = value
        }
        if let value = int(entries["max_frame_errors"], key: "\(key).max_frame_errors", range: 1...10_000) {
            settings.maxFrameErrors = value
        }
        if settings.maxFrameBytes < settings.maxMessageBytes + 1024 {
            problem("\(key).max_frame_bytes", entries["max_frame_bytes"], "must exceed chat.max_message_bytes by at least 1024, so a message fits in a frame")
        }
        return settings
    }
}
