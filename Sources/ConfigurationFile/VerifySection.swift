import Core
import Foundation
import WebhookSecurity
import Yams

/// `routes[].verify:`.
extension NodeReader {
    /// `verify:` → checked verification settings; every setting WebhookSecurity rejects becomes a problem on the
    /// key it concerns, so `check-config` catches a bad secret or PEM before the server starts.
    mutating func readVerify(_ node: Node?, key: String) -> VerificationSettings? {
        guard let node else { return nil }
        let entries = mapping(
            node, key: key,
            known: ["scheme", "secret", "secrets", "public_key_file", "tolerance", "header", "algorithm", "encoding", "prefix"]
        )
        guard let schemeText = required(entries["scheme"], key: "\(key).scheme", parent: node) else { return nil }
        guard let scheme = VerificationSettings.Scheme(rawValue: schemeText.lowercased()) else {
            let allowed = VerificationSettings.Scheme.allCases.map(\.rawValue).joined(separator: ", ")
            problem("\(key).scheme", entries["scheme"], "must be one of \(allowed), got \"\(schemeText)\"")
            return nil
        }
        var configuration = VerificationSettings(scheme: scheme)
        if entries["secret"] != nil && entries["secrets"] != nil {
            problem("\(key).secrets", entries["secrets"], "set either secret or secrets, not both")
            return nil
        }
        if let secret = string(entries["secret"], key: "\(key).secret") { configuration.secrets = [secret] }
        if let secrets = stringList(entries["secrets"], key: "\(key).secrets") { configuration.secrets = secrets }
        if let path = string(entries["public_key_file"], key: "\(key).public_key_file") {
            do {
                configuration.publicKeyPEM = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                problem("\(key).public_key_file", entries["public_key_file"], "cannot read \(path): \(error.localizedDescription)")
                return nil
            }
        }
        if let tolerance = duration(entries["tolerance"], key: "\(key).tolerance", minimum: .seconds(1)) {
            configuration.tolerance = tolerance
        }
        configuration.header = string(entries["header"], key: "\(key).header")
        if let text = string(entries["algorithm"], key: "\(key).algorithm") {
            guard let algorithm = VerificationSettings.Algorithm(rawValue: text.lowercased()) else {
                problem("\(key).algorithm", entries["algorithm"], "must be sha256 or sha512, got \"\(text)\"")
                return nil
            }
            configuration.algorithm = algorithm
        }
        if let text = string(entries["encoding"], key: "\(key).encoding") {
            guard let encoding = VerificationSettings.Encoding(rawValue: text.lowercased()) else {
                problem("\(key).encoding", entries["encoding"], "must be hex or base64, got \"\(text)\"")
                return nil
            }
            configuration.encoding = encoding
        }
        configuration.prefix = string(entries["prefix"], key: "\(key).prefix")
        do {
            _ = try configuration.makeVerifier()
            return configuration
        } catch {
            // Point at the setting the error is about; the message never holds secret material.
            let (name, blame): (String, Node?) =
                switch error.code {
                case .missingSecret, .invalidSecret:
                    entries["secrets"] != nil ? ("secrets", entries["secrets"]) : ("secret", entries["secret"])
                case .missingHeaderName, .invalidHeaderName: ("header", entries["header"])
                case .missingPublicKey, .invalidPublicKey: ("public_key_file", entries["public_key_file"])
                case .invalidValue: ("tolerance", entries["tolerance"])
                default: ("scheme", entries["scheme"])
                }
            problem("\(key).\(name)", blame ?? node, error.message)
            return nil
        }
    }
}
