import WebhookSecurity
import Testing

@Suite("Verifier configuration checks")
struct VerifierConfigurationTests {
    /// The code of the error building a verifier throws, or `nil` when it builds.
    func rejection(_ configuration: VerifierConfiguration) -> SecurityConfigurationError.Code? {
        do {
            _ = try WebhookVerifier(configuration: configuration)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func acceptsMinimalConfigurationForEveryScheme() {
        #expect(self.rejection(VerifierConfiguration(scheme: .hmac, secrets: ["s"], header: "X-Signature")) == nil)
        #expect(self.rejection(VerifierConfiguration(scheme: .github, secrets: ["s"])) == nil)
        #expect(self.rejection(VerifierConfiguration(scheme: .stripe, secrets: ["whsec_x"])) == nil)
        #expect(self.rejection(VerifierConfiguration(scheme: .standardWebhooks, secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])) == nil)
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa, publicKeyPEM: RSAWebhookTests.rsa2048PEM)) == nil)
        // Restating a scheme's fixed value is harmless.
        #expect(self.rejection(VerifierConfiguration(scheme: .github, secrets: ["s"], algorithm: .sha256, prefix: "sha256=")) == nil)
    }

    @Test func rejectsMissingAndEmptySecrets() {
        #expect(self.rejection(VerifierConfiguration(scheme: .github)) == .missingSecret)
        #expect(self.rejection(VerifierConfiguration(scheme: .stripe, secrets: ["whsec_x", ""])) == .invalidSecret)
        #expect(self.rejection(VerifierConfiguration(scheme: .hmac, secrets: ["  "], header: "X-Signature")) == .invalidSecret)
        #expect(self.rejection(VerifierConfiguration(scheme: .standardWebhooks, secrets: ["whsec_!!not base64!!"])) == .invalidSecret)
        #expect(self.rejection(VerifierConfiguration(scheme: .standardWebhooks, secrets: ["whsec_"])) == .invalidSecret)
    }

    @Test func errorMessageNeverContainsTheSecret() throws {
        let secret = "whsec_!!super-secret-value!!"
        let error = try #require(throws: SecurityConfigurationError.self) {
            try WebhookVerifier(configuration: VerifierConfiguration(scheme: .standardWebhooks, secrets: [secret]))
        }
        #expect(!error.description.contains("super-secret-value"))
        #expect(error.description.contains("secret #1"))
    }

    @Test func rejectsMissingOrInvalidHeaderName() {
        #expect(self.rejection(VerifierConfiguration(scheme: .hmac, secrets: ["s"])) == .missingHeaderName)
        #expect(self.rejection(VerifierConfiguration(scheme: .hmac, secrets: ["s"], header: "")) == .invalidHeaderName)
        #expect(self.rejection(VerifierConfiguration(scheme: .hmac, secrets: ["s"], header: "X Signature")) == .invalidHeaderName)
        #expect(self.rejection(VerifierConfiguration(scheme: .github, secrets: ["s"], header: "X-Sig:")) == .invalidHeaderName)
    }

    @Test func rejectsRSAWithoutUsableKey() {
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa)) == .missingPublicKey)
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa, publicKeyPEM: " \n")) == .missingPublicKey)
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa, publicKeyPEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")) == .invalidPublicKey)
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa, publicKeyPEM: "not a key at all")) == .invalidPublicKey)
        // A good key followed by a truncated one must fail, not silently drop the second key.
        let truncated = RSAWebhookTests.rsa2048PEM + "\n-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA8Y3b30jOdGnQQpkOBnth"
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa, publicKeyPEM: truncated)) == .invalidPublicKey)
        // `openssl genrsa 512` then `openssl rsa -pubout`: too small to trust even for Postal compatibility.
        let small512 = """
            -----BEGIN PUBLIC KEY-----
            MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMbrSme2nAgkzId+fsWAs5UZV68fOm2c
            9D5jylnUyVjyXXEfoYBwBQLTQNicHn5PcSFoU1p1GK1rUQ/SJSKeL3MCAwEAAQ==
            -----END PUBLIC KEY-----
            """
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa, publicKeyPEM: small512)) == .invalidPublicKey)
    }

    @Test func rejectsOptionsTheSchemeDoesNotUse() {
        #expect(self.rejection(VerifierConfiguration(scheme: .stripe, secrets: ["s"], algorithm: .sha512)) == .inapplicableOption)
        #expect(self.rejection(VerifierConfiguration(scheme: .github, secrets: ["s"], encoding: .base64)) == .inapplicableOption)
        #expect(self.rejection(VerifierConfiguration(scheme: .github, secrets: ["s"], prefix: "sha1=")) == .inapplicableOption)
        #expect(self.rejection(VerifierConfiguration(scheme: .standardWebhooks, secrets: ["s"], header: "X-Sig")) == .inapplicableOption)
        #expect(self.rejection(VerifierConfiguration(scheme: .rsa, secrets: ["s"], publicKeyPEM: RSAWebhookTests.rsa2048PEM)) == .inapplicableOption)
        #expect(self.rejection(VerifierConfiguration(scheme: .hmac, secrets: ["s"], header: "X-Sig", publicKeyPEM: RSAWebhookTests.rsa2048PEM)) == .inapplicableOption)
    }

    @Test func rejectsNonPositiveTolerance() {
        #expect(self.rejection(VerifierConfiguration(scheme: .stripe, secrets: ["s"], tolerance: .zero)) == .invalidValue)
    }

    @Test func codesAreStableMetricLabels() {
        #expect(SecurityConfigurationError.Code.invalidPublicKey.description == "invalid_public_key")
        #expect(VerificationFailure.Code.noMatchingSignature.description == "no_matching_signature")
        #expect(VerificationFailure.Code.timestampTooOld.description == "timestamp_too_old")
        #expect(VerificationScheme(rawValue: "standard-webhooks") == .standardWebhooks)
    }
}
