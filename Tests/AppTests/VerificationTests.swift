import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

/// Inbound signature verification through the HTTP route: every scheme with a vector computed outside Swift,
/// and every way a request can fail (tampered body, wrong secret, stale timestamp, missing header), each of which
/// must answer 401 and store nothing.
@Suite("Inbound verification")
struct VerificationTests {
    static let body = #"{"id":"evt_1","type":"payment.succeeded"}"#
    static let tampered = #"{"id":"evt_1","type":"payment.refunded"}"#
    static let sink = "http://127.0.0.1:1/"

    /// Posts `body` with `headers`, expecting 401 `signature_invalid`; returns the error message.
    func expectRejected(
        _ client: some TestClientProtocol, _ path: String, body: String = VerificationTests.body, headers: [(String, String)]
    ) async throws -> String? {
        let response = try await client.postWebhook(path, body: body, headers: .make(headers))
        #expect(response.status == .unauthorized)
        #expect(response.errorCode == "signature_invalid")
        return response.errorMessage
    }

    @Test("hmac: a good signature is stored; tampered body, wrong secret and missing header are 401 and store nothing")
    func hmac() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/hmac"
                destination: "\(Self.sink)"
                verify:
                  scheme: hmac
                  secret: "${HMAC_SECRET}"
                  header: X-Signature
                  algorithm: sha256
                  encoding: hex
                  prefix: "sha256="
            """, environment: ["HMAC_SECRET": "hmac-route-secret"])
        // python3 -c "import hmac,hashlib,sys;print(hmac.new(b'hmac-route-secret', sys.argv[1].encode(), hashlib.sha256).hexdigest())" '{"id":"evt_1","type":"payment.succeeded"}'
        let good = "sha256=637a2eb1e4979e4ae4e4b325baa73275342bd31dbded810f41f706caf552a129"
        // The same with b'wrong-secret'.
        let wrong = "sha256=6343cc5e144ad1513cd133c15f45e9a486f3877df6b09f0bd01b320b75b727cb"
        try await app.test(.live) { client async throws in
            _ = try await expectRejected(client, "/webhook/hmac", body: Self.tampered, headers: [("X-Signature", good)])
            _ = try await expectRejected(client, "/webhook/hmac", headers: [("X-Signature", wrong)])
            let missing = try await expectRejected(client, "/webhook/hmac", headers: [])
            #expect(missing == "missing header X-Signature")
            #expect(try await store.storedCount() == 0)
            let accepted = try await client.postWebhook("/webhook/hmac", body: Self.body, headers: .make([("X-Signature", good)]))
            #expect(accepted.status == .accepted)
        }
        let stored = try await store.messages(matching: .init())
        #expect(stored.count == 1)
        #expect(stored.first?.message.body == Array(Self.body.utf8))
    }

    @Test("stripe: good within tolerance; tampered, wrong secret and stale timestamp are 401")
    func stripe() async throws {
        let directory = TestDirectory()
        // The vector is signed at t=1700000000, so the accepting route's tolerance reaches back that far.
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/stripe"
                destination: "\(Self.sink)"
                verify:
                  scheme: stripe
                  secrets: ["whsec_old_rotated_out", "whsec_route_test"]
                  tolerance: 36500d
              - path: "/webhook/stripe-strict"
                destination: "\(Self.sink)"
                verify:
                  scheme: stripe
                  secret: "whsec_route_test"
                  tolerance: 5m
            """)
        // python3 -c "import hmac,hashlib,sys;print(hmac.new(b'whsec_route_test', b'1700000000.'+sys.argv[1].encode(), hashlib.sha256).hexdigest())" '{"id":"evt_1","type":"payment.succeeded"}'
        let good = "t=1700000000,v1=2130156185b8a1f49cac1c10d9da39d2cb9a23363dbb98ab467fc6b3f59988d9"
        // The same with b'wrong-secret'.
        let wrong = "t=1700000000,v1=fd922d4adf7171b13d05060236613edb08adbcf6d07063d27f714d0f012157b2"
        try await app.test(.live) { client async throws in
            _ = try await expectRejected(client, "/webhook/stripe", body: Self.tampered, headers: [("Stripe-Signature", good)])
            _ = try await expectRejected(client, "/webhook/stripe", headers: [("Stripe-Signature", wrong)])
            let missing = try await expectRejected(client, "/webhook/stripe", headers: [])
            #expect(missing == "missing header Stripe-Signature")
            let stale = try await expectRejected(client, "/webhook/stripe-strict", headers: [("Stripe-Signature", good)])
            #expect(stale == "signature timestamp is too old")
            #expect(try await store.storedCount() == 0)
            let accepted = try await client.postWebhook("/webhook/stripe", body: Self.body, headers: .make([("Stripe-Signature", good)]))
            #expect(accepted.status == .accepted)
            #expect(accepted.json["status"] as? String == "accepted")
        }
        #expect(try await store.storedCount() == 1)
    }

    @Test("github: X-Hub-Signature-256 good is stored; tampered and wrong secret are 401")
    func github() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/github"
                destination: "\(Self.sink)"
                verify:
                  scheme: github
                  secret: "gh-route-secret"
            """)
        // python3 -c "import hmac,hashlib,sys;print(hmac.new(b'gh-route-secret', sys.argv[1].encode(), hashlib.sha256).hexdigest())" '{"id":"evt_1","type":"payment.succeeded"}'
        let good = "sha256=aabae5f7b180f68b4cf40daf3ee856c2b3279dcd1834d5c4e458594d22556e87"
        // hmac-route-secret's signature of the same body: right format, wrong secret.
        let wrong = "sha256=637a2eb1e4979e4ae4e4b325baa73275342bd31dbded810f41f706caf552a129"
        try await app.test(.live) { client async throws in
            _ = try await expectRejected(client, "/webhook/github", body: Self.tampered, headers: [("X-Hub-Signature-256", good)])
            let noMatch = try await expectRejected(client, "/webhook/github", headers: [("X-Hub-Signature-256", wrong)])
            #expect(noMatch == "no signature matches")
            #expect(try await store.storedCount() == 0)
            let accepted = try await client.postWebhook("/webhook/github", body: Self.body, headers: .make([("X-Hub-Signature-256", good)]))
            #expect(accepted.status == .accepted)
        }
        #expect(try await store.storedCount() == 1)
    }

    @Test("standard-webhooks: good is stored; tampered, wrong secret, stale timestamp and missing webhook-id are 401")
    func standardWebhooks() async throws {
        let directory = TestDirectory()
        // python3 -c "import base64;print('whsec_'+base64.b64encode(b'standard-webhooks-key-32-bytes!!').decode())"
        let secret = "whsec_c3RhbmRhcmQtd2ViaG9va3Mta2V5LTMyLWJ5dGVzISE="
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/std"
                destination: "\(Self.sink)"
                verify:
                  scheme: standard-webhooks
                  secret: "\(secret)"
                  tolerance: 36500d
              - path: "/webhook/std-strict"
                destination: "\(Self.sink)"
                verify:
                  scheme: standard-webhooks
                  secret: "\(secret)"
            """)
        // python3 -c "import hmac,hashlib,base64,sys;print(base64.b64encode(hmac.new(b'standard-webhooks-key-32-bytes!!', b'msg_1.1700000000.'+sys.argv[1].encode(), hashlib.sha256).digest()).decode())" '{"id":"evt_1","type":"payment.succeeded"}'
        let good = "v1,4W6LxBzpYXvO07Gi4xHiqNONEeTXcNPWG9jRIL/Y9TU="
        // The same with b'wrong-secret'.
        let wrong = "v1,G32a8eNDWjFstjOnwxxA1oXkYgt5vY+cVyUtwxuaW6s="
        @Sendable func headers(_ signature: String) -> [(String, String)] {
            [("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000"), ("webhook-signature", signature)]
        }
        try await app.test(.live) { client async throws in
            _ = try await expectRejected(client, "/webhook/std", body: Self.tampered, headers: headers(good))
            _ = try await expectRejected(client, "/webhook/std", headers: headers(wrong))
            let stale = try await expectRejected(client, "/webhook/std-strict", headers: headers(good))
            #expect(stale == "signature timestamp is too old")
            let missing = try await expectRejected(client, "/webhook/std", headers: Array(headers(good).dropFirst()))
            #expect(missing == "missing header webhook-id")
            #expect(try await store.storedCount() == 0)
            let accepted = try await client.postWebhook("/webhook/std", body: Self.body, headers: .make(headers(good)))
            #expect(accepted.status == .accepted)
        }
        #expect(try await store.storedCount() == 1)
    }

    // openssl genrsa -out mbrsa.key 2048; openssl rsa -in mbrsa.key -pubout
    static let rsaPublicKey = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArGBeyuxlzfOdIMhrsTiP
        rZ7klkvqdpOPSbQXCCZZH6ecAOQesL4+fu08JvaHbGow0MMGw2735CQO4E/TV5qY
        EyeU6CeapcMqKpt+Viqyoh3lH1QFiN2u5nx8rDfGyhi2aX/bgcVUDVHl1JWz3Jru
        dVln/cBiCyuIHKrYiGK+9F6RV/3QLtRk0CrNanhahbNgdGVwz9w+0bco3RBAzNvA
        XwCQTwG2RSsQbmHVcFNEhcC9aNk61kVv/9P9vr7Tao3qwwiD1qreEBgie3wO98qm
        glHReTlClaEnXJwOA/3Zly18fR1jvbqyVlGkHoTTLBdoLPLR8sCRayYC20JWUIQv
        oQIDAQAB
        -----END PUBLIC KEY-----

        """
    // printf '%s' '{"id":"evt_1","type":"payment.succeeded"}' > body.json; openssl dgst -sha256 -sign mbrsa.key body.json | base64 -w0
    static let rsaSignature = "i+O8afZfnenha/4yFvtnxX8QsVjenhA5rFgEQFBFZqwIqPRslA9uJ1y12cTeQ1SUHuQkb8ZghopwoIWJOnbvkWw74wUhLhFhJLUvNdi1LpwD1bhqn6+uz2w6lGecuVHeL3OSoGAgZzYs+0JQG+UnXmUr5mEGyhCqbVc4dOQGcuwagVOyqKP4Yqgg5cqdBHbfH7wmKU7XAsqZANdLdjnEC1B2m+qURLfd+fVp88cVTjxnFl3jBA+Hn289Rflg9jpaFyhz/fTX/QkfCh3AJoeorlAaY04sG+U9CjRV/YVD/OyaslAeYIVNSZ/qJiyhWLmRHU6NOdp8SMRUh8JDh8c7gA=="

    @Test("rsa: public_key_file is read at load; good is stored; tampered body and a foreign signature are 401")
    func rsa() async throws {
        let directory = TestDirectory()
        let keyPath = directory.path + "/postal.pub"
        try Self.rsaPublicKey.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/postal"
                destination: "\(Self.sink)"
                verify:
                  scheme: rsa
                  public_key_file: "\(keyPath)"
            """)
        // Removing the file after load proves the key was read at load, not per request.
        try FileManager.default.removeItem(atPath: keyPath)
        // A valid-looking signature over other bytes: the GitHub vector's MAC is not an RSA signature of this body.
        let foreign = Data(repeating: 7, count: 256).base64EncodedString()
        try await app.test(.live) { client async throws in
            _ = try await expectRejected(client, "/webhook/postal", body: Self.tampered, headers: [("X-Postal-Signature-256", Self.rsaSignature)])
            _ = try await expectRejected(client, "/webhook/postal", headers: [("X-Postal-Signature-256", foreign)])
            #expect(try await store.storedCount() == 0)
            let accepted = try await client.postWebhook("/webhook/postal", body: Self.body, headers: .make([("X-Postal-Signature-256", Self.rsaSignature)]))
            #expect(accepted.status == .accepted)
        }
        #expect(try await store.storedCount() == 1)
    }

    @Test("a route without verify accepts unsigned requests as before")
    func unverifiedRoute() async throws {
        let directory = TestDirectory()
        let (app, store) = try await makeSecurityTestApp(directory: directory, routes: """
              - path: "/webhook/open"
                destination: "\(Self.sink)"
            """)
        try await app.test(.router) { client async throws in
            #expect(try await client.postWebhook("/webhook/open", body: Self.body).status == .accepted)
        }
        #expect(try await store.storedCount() == 1)
    }
}
