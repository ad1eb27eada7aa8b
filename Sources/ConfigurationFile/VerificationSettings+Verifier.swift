import Core
import WebhookSecurity

extension VerificationSettings {
    /// The checked verifier for these settings; throws what WebhookSecurity rejects (a missing or bad secret, an
    /// unusable public key, an option the scheme fixes). The loader calls it to report such problems on their key;
    /// the composition root calls it to build the verifier the server uses.
    public func makeVerifier() throws(SecurityConfigurationError) -> WebhookVerifier {
        var configuration = VerifierConfiguration(scheme: scheme.verificationScheme)
        configuration.secrets = secrets
        configuration.header = header
        configuration.algorithm = algorithm.map { $0 == .sha256 ? .sha256 : .sha512 }
        configuration.encoding = encoding.map { $0 == .hex ? .hex : .base64 }
        configuration.prefix = prefix
        configuration.tolerance = tolerance
        configuration.publicKeyPEM = publicKeyPEM
        return try WebhookVerifier(configuration: configuration)
    }
}

extension VerificationSettings.Scheme {
    /// The same scheme as WebhookSecurity names it.
    var verificationScheme: VerificationScheme {
        switch self {
        case .hmac: .hmac
        case .stripe: .stripe
        case .github: .github
        case .standardWebhooks: .standardWebhooks
        case .rsa: .rsa
        }
    }
}
