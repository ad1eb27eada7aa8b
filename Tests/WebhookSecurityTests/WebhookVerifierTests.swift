import Foundation
import WebhookSecurity
import Testing

// Every expected signature below was computed outside Swift, by the command in the comment above it, so a bug in
// the verifier cannot hide behind the same bug in the test.

private func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

private func date(_ unixSeconds: TimeInterval) -> Date {
    Date(timeIntervalSince1970: unixSeconds)
}

/// Runs `body` and returns the failure it throws, or records an issue when it succeeds.
private func failure(_ body: () throws(VerificationFailure) -> Void) -> VerificationFailure? {
    do {
        try body()
        Issue.record("verification passed but was expected to fail")
        return nil
    } catch {
        return error
    }
}

@Suite("Generic HMAC webhooks")
struct HMACWebhookTests {
    static let body = bytes(#"{"id":"evt_1","type":"message.created"}"#)
    // python3 -c "import hmac,hashlib,sys;print(hmac.new(b'hmac-secret-1', sys.argv[1].encode(), hashlib.sha256).hexdigest())" '{"id":"evt_1","type":"message.created"}'
    static let sha256Hex = "bbd4fb80790bc53da9d0852587e817c40b61fc9b0bef7118797c93ae43703569"
    // python3 -c "import hmac,hashlib,sys,base64;print(base64.b64encode(hmac.new(b'hmac-secret-2', sys.argv[1].encode(), hashlib.sha512).digest()).decode())" '{"id":"evt_1","type":"message.created"}'
    static let sha512Base64 =
        "dUH5MvSEFc0P4vSKd+lTRbhC01xTiWT8dvEFDQ8przTSIbajggAxbglkEidBCAV67WJBzT1/jXxOe0hwZydDqg=="

    func makeVerifier(secrets: [String] = ["hmac-secret-1"]) throws -> WebhookVerifier {
        try WebhookVerifier(configuration: VerifierConfiguration(scheme: .hmac, secrets: secrets, header: "X-Signature"))
    }

    @Test func acceptsKnownGoodVectorWithCaseInsensitiveHeaderName() throws {
        let verifier = try self.makeVerifier()
        try verifier.verify(body: Self.body, headers: [(name: "x-SIGNATURE", value: Self.sha256Hex)])
        // Upper-case hex is the same MAC.
        try verifier.verify(body: Self.body, headers: [(name: "X-Signature", value: Self.sha256Hex.uppercased())])
    }

    @Test func acceptsNonContiguousBody() throws {
        let verifier = try self.makeVerifier()
        // A lazily mapped collection has no contiguous storage, exercising the copying path.
        let lazyBody = Self.body.lazy.map { $0 }
        try verifier.verify(body: lazyBody, headers: [(name: "X-Signature", value: Self.sha256Hex)])
    }

    @Test func rejectsTamperedBody() throws {
        let verifier = try self.makeVerifier()
        var tampered = Self.body
        tampered[tampered.count - 2] ^= 0x01
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: tampered, headers: [(name: "X-Signature", value: Self.sha256Hex)])
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func rejectsWrongSecret() throws {
        let verifier = try self.makeVerifier(secrets: ["not-the-secret"])
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Signature", value: Self.sha256Hex)])
        }
        #expect(error == VerificationFailure(code: .noMatchingSignature))
    }

    @Test func acceptsSecondSecretDuringRotation() throws {
        let verifier = try self.makeVerifier(secrets: ["old-secret", "hmac-secret-1"])
        try verifier.verify(body: Self.body, headers: [(name: "X-Signature", value: Self.sha256Hex)])
    }

    @Test func missingHeaderNamesTheHeader() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Other", value: Self.sha256Hex)])
        }
        #expect(error == VerificationFailure(code: .missingHeader, header: "X-Signature"))
        #expect(error?.description.contains("X-Signature") == true)
    }

    @Test func rejectsNonHexAsMalformed() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Signature", value: "zz" + Self.sha256Hex.dropFirst(2))])
        }
        #expect(error == VerificationFailure(code: .malformedHeader, header: "X-Signature"))
    }

    @Test func sha512Base64WithPrefixAndRotation() throws {
        let verifier = try WebhookVerifier(
            configuration: VerifierConfiguration(
                scheme: .hmac, secrets: ["hmac-secret-1", "hmac-secret-2"], header: "X-Webhook-Signature",
                algorithm: .sha512, encoding: .base64, prefix: "sha512="))
        try verifier.verify(body: Self.body, headers: [(name: "X-Webhook-Signature", value: "sha512=" + Self.sha512Base64)])

        let withoutPrefix = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Webhook-Signature", value: Self.sha512Base64)])
        }
        #expect(withoutPrefix?.code == .malformedHeader)

        // The SHA-256 MAC of the same body must not pass a SHA-512 verifier.
        let wrongAlgorithm = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Webhook-Signature", value: "sha512=" + Self.sha256Hex)])
        }
        #expect(wrongAlgorithm != nil)
    }
}

@Suite("GitHub webhooks")
struct GitHubWebhookTests {
    // GitHub's documented example, checked with:
    // python3 -c "import hmac,hashlib;print(hmac.new(b\"It's a Secret to Everybody\", b'Hello, World!', hashlib.sha256).hexdigest())"
    static let secret = "It's a Secret to Everybody"
    static let body = bytes("Hello, World!")
    static let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    func makeVerifier(secrets: [String] = [Self.secret]) throws -> WebhookVerifier {
        try WebhookVerifier(configuration: VerifierConfiguration(scheme: .github, secrets: secrets))
    }

    @Test func acceptsKnownGoodVector() throws {
        try self.makeVerifier().verify(body: Self.body, headers: [(name: "x-hub-signature-256", value: Self.signature)])
    }

    @Test func acceptsLookupClosure() throws {
        let fields = ["x-hub-signature-256": Self.signature]
        try self.makeVerifier().verify(body: Self.body, headers: { fields[$0.lowercased()] })
    }

    @Test func rejectsTamperedBody() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: bytes("Hello, World?"), headers: [(name: "X-Hub-Signature-256", value: Self.signature)])
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func rejectsWrongSecret() throws {
        let verifier = try self.makeVerifier(secrets: ["It's a secret to everybody"])
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Hub-Signature-256", value: Self.signature)])
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func acceptsSecondSecretDuringRotation() throws {
        try self.makeVerifier(secrets: ["previous", Self.secret])
            .verify(body: Self.body, headers: [(name: "X-Hub-Signature-256", value: Self.signature)])
    }

    @Test func missingHeaderNamesTheHeader() throws {
        let verifier = try self.makeVerifier()
        // The SHA-1 header GitHub also sends must not be accepted in place of the SHA-256 one.
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Hub-Signature", value: "sha1=0000")])
        }
        #expect(error == VerificationFailure(code: .missingHeader, header: "X-Hub-Signature-256"))
    }

    @Test func rejectsMissingPrefixAsMalformed() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(
                body: Self.body, headers: [(name: "X-Hub-Signature-256", value: String(Self.signature.dropFirst(7)))])
        }
        #expect(error == VerificationFailure(code: .malformedHeader, header: "X-Hub-Signature-256"))
    }
}

@Suite("Stripe webhooks")
struct StripeWebhookTests {
    static let secret = "whsec_stripe_test_secret"
    static let body = bytes(#"{"id":"evt_1","type":"message.created"}"#)
    static let signedAt: TimeInterval = 1_700_000_000
    // python3 -c "import hmac,hashlib,sys;print(hmac.new(b'whsec_stripe_test_secret', b'1700000000.'+sys.argv[1].encode(), hashlib.sha256).hexdigest())" '{"id":"evt_1","type":"message.created"}'
    static let v1 = "1ca08cbd5d089c3fc5b9d0e514004ec73778c4068d0574e25612f277a5857d58"
    // Same, with secret b'whsec_stripe_rotated'.
    static let v1Rotated = "1e18e1c3d269615ead2b3dda1ea6b21c9bc3d4bcbf03d3e8701052eeb3ad9cd0"
    // Same secret as v1, timestamp 1699999000 (1000 s before signedAt).
    static let v1Stale = "c59cb60ada28f383e5242b7b9ae5c50f8eb52cb31b02de791fcb54be9af20cbb"
    // Same secret as v1, timestamp 1700001000 (1000 s after signedAt).
    static let v1Future = "88cf6eb6fdf825e460d2a507efdfa42373f3ec0b9b3b11a8d566cc924c931486"

    func makeVerifier(secrets: [String] = [Self.secret]) throws -> WebhookVerifier {
        try WebhookVerifier(configuration: VerifierConfiguration(scheme: .stripe, secrets: secrets))
    }

    func header(_ value: String) -> [(name: String, value: String)] {
        [(name: "stripe-signature", value: value)]
    }

    @Test func acceptsKnownGoodVector() throws {
        try self.makeVerifier().verify(body: Self.body, headers: self.header("t=1700000000,v1=\(Self.v1)"), now: date(Self.signedAt + 60))
    }

    @Test func acceptsAnyOfSeveralV1Signatures() throws {
        // Stripe sends one v1 per active secret while a secret is being rolled, and a v0 that must be ignored.
        let value = "t=1700000000, v1=\(String(repeating: "0", count: 64)), v1=\(Self.v1), v0=\(Self.v1Rotated)"
        try self.makeVerifier().verify(body: Self.body, headers: self.header(value), now: date(Self.signedAt))
    }

    @Test func ignoresV0Signatures() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header("t=1700000000,v0=\(Self.v1)"), now: date(Self.signedAt))
        }
        #expect(error == VerificationFailure(code: .malformedHeader, header: "Stripe-Signature"))
    }

    @Test func rejectsTamperedBody() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(
                body: bytes(#"{"id":"evt_2","type":"message.created"}"#), headers: self.header("t=1700000000,v1=\(Self.v1)"),
                now: date(Self.signedAt))
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func rejectsTamperedTimestamp() throws {
        let verifier = try self.makeVerifier()
        // Moving the timestamp changes the signed payload, so a replay cannot be freshened.
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header("t=1700000001,v1=\(Self.v1)"), now: date(Self.signedAt))
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func rejectsWrongSecret() throws {
        let verifier = try self.makeVerifier(secrets: ["whsec_someone_else"])
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header("t=1700000000,v1=\(Self.v1)"), now: date(Self.signedAt))
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func acceptsSecondSecretDuringRotation() throws {
        try self.makeVerifier(secrets: [Self.secret, "whsec_stripe_rotated"])
            .verify(body: Self.body, headers: self.header("t=1700000000,v1=\(Self.v1Rotated)"), now: date(Self.signedAt))
    }

    @Test func rejectsStaleTimestamp() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header("t=1699999000,v1=\(Self.v1Stale)"), now: date(Self.signedAt))
        }
        #expect(error == VerificationFailure(code: .timestampTooOld))
    }

    @Test func rejectsFutureTimestamp() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header("t=1700001000,v1=\(Self.v1Future)"), now: date(Self.signedAt))
        }
        #expect(error == VerificationFailure(code: .timestampInFuture))
    }

    @Test func toleranceIsConfigurable() throws {
        let verifier = try WebhookVerifier(
            configuration: VerifierConfiguration(scheme: .stripe, secrets: [Self.secret], tolerance: .seconds(1200)))
        try verifier.verify(body: Self.body, headers: self.header("t=1699999000,v1=\(Self.v1Stale)"), now: date(Self.signedAt))
        // Exactly at the default tolerance's edge still passes; one second past it does not.
        let strict = try self.makeVerifier()
        try strict.verify(body: Self.body, headers: self.header("t=1700000000,v1=\(Self.v1)"), now: date(Self.signedAt + 300))
        let error = failure { () throws(VerificationFailure) in
            try strict.verify(body: Self.body, headers: self.header("t=1700000000,v1=\(Self.v1)"), now: date(Self.signedAt + 301))
        }
        #expect(error?.code == .timestampTooOld)
    }

    @Test func missingHeaderNamesTheHeader() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [], now: date(Self.signedAt))
        }
        #expect(error == VerificationFailure(code: .missingHeader, header: "Stripe-Signature"))
        #expect(error?.description == "missing header Stripe-Signature")
    }

    @Test(arguments: ["v1=abc", "t=17000x0000,v1=00", "t=1700000000", "garbage", "t=,v1=00"])
    func rejectsMalformedHeader(value: String) throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header(value), now: date(Self.signedAt))
        }
        #expect(error == VerificationFailure(code: .malformedHeader, header: "Stripe-Signature"))
    }
}

@Suite("Standard Webhooks")
struct StandardWebhooksTests {
    // The example from the Standard Webhooks specification's test suite, checked with:
    // python3 -c "import hmac,hashlib,base64;k=base64.b64decode('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');print(base64.b64encode(hmac.new(k,b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}',hashlib.sha256).digest()).decode())"
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp: TimeInterval = 1_614_265_330
    static let body = bytes(#"{"test": 2432232314}"#)
    static let signature = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    // Same command with timestamp 1614264330 (1000 s earlier).
    static let staleSignature = "TY8iMmKPo2IzCr8agvE/IIm+G8OpvQBsM2fED+Jxrj0="
    // Same command with timestamp 1614266330 (1000 s later).
    static let futureSignature = "oZP5XG+dsCVkNIqZfYuWQiZw9/1Di4cDiZi88TsPy+s="
    // python3 -c "import base64;print('whsec_'+base64.b64encode(b'second-signing-key-32-bytes-long').decode())"
    static let rotatedSecret = "whsec_c2Vjb25kLXNpZ25pbmcta2V5LTMyLWJ5dGVzLWxvbmc="
    // python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'second-signing-key-32-bytes-long',b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}',hashlib.sha256).digest()).decode())"
    static let rotatedSignature = "/atgapEnSdAe1big/79yhe6+WSunSl1MMu92NAmqpKg="
    // python3 -c "import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b'plain-secret-without-prefix',b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}',hashlib.sha256).digest()).decode())"
    static let rawSecretSignature = "kWcfc3WU76NKxyVAEfQTZWsy7z9zfErhT996jd+cokY="

    func makeVerifier(secrets: [String] = [Self.secret]) throws -> WebhookVerifier {
        try WebhookVerifier(configuration: VerifierConfiguration(scheme: .standardWebhooks, secrets: secrets))
    }

    func headers(
        signature: String = "v1,\(Self.signature)",
        timestamp: String = "1614265330",
        family: String = "webhook"
    ) -> [(name: String, value: String)] {
        [
            (name: "\(family)-id", value: Self.id),
            (name: "\(family)-timestamp", value: timestamp),
            (name: "\(family)-signature", value: signature),
        ]
    }

    @Test func acceptsKnownGoodVector() throws {
        try self.makeVerifier().verify(body: Self.body, headers: self.headers(), now: date(Self.timestamp + 10))
    }

    @Test func acceptsSvixHeaderNames() throws {
        try self.makeVerifier().verify(body: Self.body, headers: self.headers(family: "svix"), now: date(Self.timestamp))
    }

    @Test func acceptsAnyOfSeveralSignatures() throws {
        // Senders list one signature per active key, and may add v1a (asymmetric) ones, which a secret cannot check.
        let value = "v1a,\(Self.rotatedSignature) v1,\(Self.rotatedSignature) v1,\(Self.signature)"
        try self.makeVerifier().verify(body: Self.body, headers: self.headers(signature: value), now: date(Self.timestamp))
    }

    @Test func rejectsTamperedBody() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: bytes(#"{"test": 2432232315}"#), headers: self.headers(), now: date(Self.timestamp))
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func rejectsWrongSecret() throws {
        let verifier = try self.makeVerifier(secrets: [Self.rotatedSecret])
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.headers(), now: date(Self.timestamp))
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func acceptsSecondSecretDuringRotation() throws {
        try self.makeVerifier(secrets: [Self.secret, Self.rotatedSecret])
            .verify(body: Self.body, headers: self.headers(signature: "v1,\(Self.rotatedSignature)"), now: date(Self.timestamp))
    }

    @Test func usesRawBytesOfSecretWithoutPrefix() throws {
        try self.makeVerifier(secrets: ["plain-secret-without-prefix"])
            .verify(body: Self.body, headers: self.headers(signature: "v1,\(Self.rawSecretSignature)"), now: date(Self.timestamp))
    }

    @Test func rejectsStaleTimestamp() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(
                body: Self.body, headers: self.headers(signature: "v1,\(Self.staleSignature)", timestamp: "1614264330"),
                now: date(Self.timestamp))
        }
        #expect(error == VerificationFailure(code: .timestampTooOld))
    }

    @Test func rejectsFutureTimestamp() throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(
                body: Self.body, headers: self.headers(signature: "v1,\(Self.futureSignature)", timestamp: "1614266330"),
                now: date(Self.timestamp))
        }
        #expect(error == VerificationFailure(code: .timestampInFuture))
    }

    @Test(arguments: ["webhook-id", "webhook-timestamp", "webhook-signature"])
    func missingHeaderNamesTheHeader(missing: String) throws {
        let verifier = try self.makeVerifier()
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.headers().filter { $0.name != missing }, now: date(Self.timestamp))
        }
        #expect(error == VerificationFailure(code: .missingHeader, header: missing))
    }

    @Test func rejectsMalformedTimestampAndSignature() throws {
        let verifier = try self.makeVerifier()
        let badTimestamp = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.headers(timestamp: "2021-02-25T15:02:10Z"), now: date(Self.timestamp))
        }
        #expect(badTimestamp == VerificationFailure(code: .malformedHeader, header: "webhook-timestamp"))
        let badSignature = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.headers(signature: Self.signature), now: date(Self.timestamp))
        }
        #expect(badSignature == VerificationFailure(code: .malformedHeader, header: "webhook-signature"))
    }
}

@Suite("RSA (Postal) webhooks")
struct RSAWebhookTests {
    // Keys from `openssl genrsa -out K.key BITS; openssl rsa -in K.key -pubout`; Postal generates 1024-bit keys.
    static let postal1024PEM = """
        -----BEGIN PUBLIC KEY-----
        MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDRD0xgi5hC64t2WiMurNLC3TON
        DaxcJYM2IY+ymWPs9RloQKN++txaGovxc9ZzN8PfVcSXeyI+/+wTk7XnDb6hOZvO
        wVgSgUOAbraqc14VGUneB8Nv+ovnHwD70o+NbxMhDxW+eVdRXEBoghLN8Ib3yXgW
        aaAsAXi2ZzMRv6wEFQIDAQAB
        -----END PUBLIC KEY-----
        """
    static let rsa2048PEM = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxLiyojbK3hezny/LoQrh
        cmwxsWjH9R8a44mnaDV5FIf3kHAvuAeXTsMCSHLEiVYYRdyzxapiOVm28urTASTt
        QrB5IheuX9lmBXbETUqige9QZtv9KlEXLpJbJ4vTl269ldO4Byyt4OZ56w6ClU6R
        C7ZPQQOh+iGiUdjO0DtMBoDbrf2Wpang3fWOZcWA3IQuND6a/t62VSRJkVs4hvaW
        fdtzWTw2BfCZxJWD8FL+oVm7q+Yf5FYO04N7wgnAMWid0oImCGgyIjbGB+z7+H3K
        NTw1pHe44hqXnncWK0B8UiRpBur/iI2ljcsQpEUW/i561ji9bj1BTu7rrSEPTtYo
        FwIDAQAB
        -----END PUBLIC KEY-----
        """
    // The same 2048-bit key in PKCS#1 form: `openssl rsa -pubin -in rsa2048.pub -RSAPublicKey_out`.
    static let rsa2048PKCS1PEM = """
        -----BEGIN RSA PUBLIC KEY-----
        MIIBCgKCAQEAxLiyojbK3hezny/LoQrhcmwxsWjH9R8a44mnaDV5FIf3kHAvuAeX
        TsMCSHLEiVYYRdyzxapiOVm28urTASTtQrB5IheuX9lmBXbETUqige9QZtv9KlEX
        LpJbJ4vTl269ldO4Byyt4OZ56w6ClU6RC7ZPQQOh+iGiUdjO0DtMBoDbrf2Wpang
        3fWOZcWA3IQuND6a/t62VSRJkVs4hvaWfdtzWTw2BfCZxJWD8FL+oVm7q+Yf5FYO
        04N7wgnAMWid0oImCGgyIjbGB+z7+H3KNTw1pHe44hqXnncWK0B8UiRpBur/iI2l
        jcsQpEUW/i561ji9bj1BTu7rrSEPTtYoFwIDAQAB
        -----END RSA PUBLIC KEY-----
        """
    static let other2048PEM = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA8Y3b30jOdGnQQpkOBnth
        BgNQ4qLluOAgBv6Abi9Kl3+ZKq/m73mgaav3v1nrKDF3tKiSUwKcPRv7O+pw/pQD
        hcRC5zT57/OEdGWDSSvQaQZVb0H0Iwegn8SHlOiPEABg2CjR9pAbHmN8NBviBN3T
        Mr9uBUzyDE0gz70xDmCSD2HLSLKSvkB9/Vvmoe1+76n0mU8a/xWbfWrLucWT+sgo
        ysoy2OXrk3SpBAq71R6JUg1oXdNU6gMB8+Ig3/WlcuYge8Xtzn5pGKT9lmkua4SC
        R/2bkQ3jtfTIwGRI+ZJG4jQXbLmK1ubrl146CCE68qTTIJhprJfR/1LEVtQpHHrB
        SQIDAQAB
        -----END PUBLIC KEY-----
        """
    static let body = bytes(#"{"event":"MessageSent","payload":{"message":{"id":42}}}"#)
    // printf '%s' "$BODY" > body.json; openssl dgst -sha256 -sign postal1024.key body.json | base64 -w0
    static let postal1024Signature =
        "hvef339ioEjh3+VsERP26Xpy0DYKq4/ucoyJFNF6dU60VhodnRp6QoRa9BRF4J6c8tB42OMhxwbR2UR0acw+UkjDKD7GKhHd/YcQgK3SmoCSYbZoF/25nvd20EcYonpd8fqfym2tradrgbf+4/yCsMZPtcYUpdk2PKGloyW+V9Y="
    // openssl dgst -sha256 -sign rsa2048.key body.json | base64 -w0  (cross-checked with python `cryptography`)
    static let rsa2048Signature =
        "TcaCpb9yejJkpYYOUZaLndXZe6YQNf97r8J3owLCEZuy8wtZY6pvf37gU61lQNZFMUY0C4bdqSeMnomcNm/oHG1NYt4FQyQO5HgAbBsHFuo33IuKi/uB2+jc1B19i4mI06dzmC7iy+HLABA7g3yxvCGdmE8hr7mKh99vbDRDArbUjWA/R6oBCU++SFba7KmoQozrR16uc/3It+BOSUO/IBhcRfWFa4LugV3zeImuHU/Pob3D+KXPWjy+c5NFybb3vcHLzr9+QaezKlQmOWx1AzX/TgLDNWtG8j7qPICPUJ/WQ4o1tDYgJOXhKaBY4//WV08mgSkKvUOtenAwQgv5oQ=="

    func makeVerifier(_ pem: String) throws -> WebhookVerifier {
        try WebhookVerifier(configuration: VerifierConfiguration(scheme: .rsa, publicKeyPEM: pem))
    }

    func header(_ signature: String) -> [(name: String, value: String)] {
        [(name: "x-postal-signature-256", value: signature)]
    }

    @Test func acceptsKnownGoodVectorFromPostalSizedKey() throws {
        try self.makeVerifier(Self.postal1024PEM).verify(body: Self.body, headers: self.header(Self.postal1024Signature))
    }

    @Test func acceptsKnownGoodVectorFrom2048BitKeyInEitherPEMForm() throws {
        try self.makeVerifier(Self.rsa2048PEM).verify(body: Self.body, headers: self.header(Self.rsa2048Signature))
        try self.makeVerifier(Self.rsa2048PKCS1PEM).verify(body: Self.body, headers: self.header(Self.rsa2048Signature))
    }

    @Test func acceptsBareBase64KeyAsPostalDisplaysIt() throws {
        let bare = Self.postal1024PEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        try self.makeVerifier(bare).verify(body: Self.body, headers: self.header(Self.postal1024Signature))
    }

    @Test func rejectsTamperedBody() throws {
        let verifier = try self.makeVerifier(Self.rsa2048PEM)
        var tampered = Self.body
        tampered[0] = UInt8(ascii: "[")
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: tampered, headers: self.header(Self.rsa2048Signature))
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func rejectsWrongKey() throws {
        let verifier = try self.makeVerifier(Self.other2048PEM)
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header(Self.rsa2048Signature))
        }
        #expect(error?.code == .noMatchingSignature)
    }

    @Test func acceptsSecondKeyDuringRotation() throws {
        let verifier = try self.makeVerifier(Self.other2048PEM + "\n" + Self.rsa2048PEM)
        try verifier.verify(body: Self.body, headers: self.header(Self.rsa2048Signature))
    }

    @Test func missingHeaderNamesTheHeader() throws {
        let verifier = try self.makeVerifier(Self.rsa2048PEM)
        // Postal's legacy X-Postal-Signature is RSA-SHA1 and is deliberately not consulted.
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: [(name: "X-Postal-Signature", value: Self.rsa2048Signature)])
        }
        #expect(error == VerificationFailure(code: .missingHeader, header: "X-Postal-Signature-256"))
    }

    @Test func headerNameIsConfigurable() throws {
        let verifier = try WebhookVerifier(
            configuration: VerifierConfiguration(scheme: .rsa, header: "X-Signed", publicKeyPEM: Self.rsa2048PEM))
        try verifier.verify(body: Self.body, headers: [(name: "x-signed", value: Self.rsa2048Signature)])
    }

    @Test func rejectsNonBase64AsMalformed() throws {
        let verifier = try self.makeVerifier(Self.rsa2048PEM)
        let error = failure { () throws(VerificationFailure) in
            try verifier.verify(body: Self.body, headers: self.header("not base64!"))
        }
        #expect(error == VerificationFailure(code: .malformedHeader, header: "X-Postal-Signature-256"))
    }
}
