import App
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@Suite("Keys CLI")
struct KeysCLITests {
    /// The secret a `keys create` or `keys rotate` printed on its `key:` line.
    func secret(in output: String) throws -> String {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("key:") })
        return line.dropFirst("key:".count).trimmingCharacters(in: .whitespaces)
    }

    func id(in output: String) throws -> String {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("id:") })
        return line.dropFirst("id:".count).trimmingCharacters(in: .whitespaces)
    }

    @Test("create prints the secret once, list never; the key works until it expires, and a revoked key is 401")
    func createListExpireRevoke() async throws {
        let fixture = try KeyedApp()
        let config = fixture.directory.configPath

        let created = try runCLI(["keys", "create", "--config", config, "--name", "ci-bot", "--scope", "admin", "--expires-in", "1h"])
        #expect(created.status == 0, "\(created.output)")
        let shortLived = try secret(in: created.output)
        #expect(shortLived.hasPrefix("mb_"))
        #expect(created.output.components(separatedBy: shortLived).count == 2, "the secret is printed exactly once")

        let durable = try runCLI(["keys", "create", "--config", config, "--name", "deploy", "--scope", "read"])
        #expect(durable.status == 0, "\(durable.output)")
        let durableSecret = try secret(in: durable.output)
        let durableID = try id(in: durable.output)

        let listed = try runCLI(["keys", "list", "--config", config])
        #expect(listed.status == 0)
        #expect(!listed.output.contains(shortLived))
        #expect(!listed.output.contains(durableSecret))
        #expect(listed.output.contains("ci-bot") && listed.output.contains("deploy"))
        #expect(listed.output.contains(APIKey.displayPrefixForTests(durableSecret)))
        // The database holds hashes only.
        let stored = try await fixture.keys.list()
        #expect(stored.count == 2)
        #expect(stored.allSatisfy { $0.hash.count == 64 && $0.hash != shortLived && $0.hash != durableSecret })

        let app = try await fixture.build()
        try await app.test(.router) { client in
            #expect(try await client.get("/api/v1/admin/messages", key: shortLived).status == .ok)
            #expect(try await client.get("/api/v1/admin/messages", key: durableSecret).status == .ok)
            // The CLI stamped the expiry from the real clock; the app's clock is moved past it.
            fixture.clock.advance(by: .seconds(3600 + 1))
            #expect(try await client.get("/api/v1/admin/messages", key: shortLived) == Answer(.unauthorized, "unauthorized"))

            let revoked = try runCLI(["keys", "revoke", "--config", config, durableID])
            #expect(revoked.status == 0, "\(revoked.output)")
            #expect(try await client.get("/api/v1/admin/messages", key: durableSecret) == Answer(.unauthorized, "unauthorized"))
        }
        let again = try runCLI(["keys", "revoke", "--config", config, durableID])
        #expect(again.status == 1)
        #expect(again.output.contains("already revoked"))
        // The CLI lists on the real clock, where ci-bot has most of its hour left: a key that expired 1 ms after it
        // was made is long expired by the time another CLI process starts.
        let lapsed = try runCLI(["keys", "create", "--config", config, "--name", "lapsed", "--scope", "read", "--expires-in", "1ms"])
        #expect(lapsed.status == 0, "\(lapsed.output)")
        let listedAfter = try runCLI(["keys", "list", "--config", config])
        #expect(listedAfter.output.contains("revoked") && listedAfter.output.contains("expired"))
    }

    @Test("rotate by display prefix: new secret works, old one only within --grace")
    func rotate() async throws {
        let fixture = try KeyedApp()
        let config = fixture.directory.configPath
        let created = try runCLI(["keys", "create", "--config", config, "--name", "svc", "--scope", "read"])
        let oldSecret = try secret(in: created.output)
        let prefix = APIKey.displayPrefixForTests(oldSecret)

        let rotated = try runCLI(["keys", "rotate", "--config", config, prefix, "--grace", "1h"])
        #expect(rotated.status == 0, "\(rotated.output)")
        let newSecret = try secret(in: rotated.output)
        #expect(newSecret != oldSecret)
        #expect(!rotated.output.contains(oldSecret))

        let app = try await fixture.build()
        try await app.test(.router) { client async throws in
            #expect(try await client.get("/api/v1/admin/messages", key: newSecret).status == .ok)
            #expect(try await client.get("/api/v1/admin/messages", key: oldSecret).status == .ok)
            // The CLI started the grace period on the real clock; the app's clock is moved past its end.
            fixture.clock.advance(by: .seconds(3600 + 1))
            #expect(try await client.get("/api/v1/admin/messages", key: oldSecret) == Answer(.unauthorized, "unauthorized"))
            #expect(try await client.get("/api/v1/admin/messages", key: newSecret).status == .ok)
        }
    }

    @Test("bad scope, bad duration and unknown keys exit non-zero with a message")
    func badInput() throws {
        let fixture = try KeyedApp()
        let config = fixture.directory.configPath
        let scope = try runCLI(["keys", "create", "--config", config, "--name", "x", "--scope", "root"])
        #expect(scope.status != 0 && scope.output.contains("unknown scope"))
        let duration = try runCLI(["keys", "create", "--config", config, "--name", "x", "--expires-in", "soon"])
        #expect(duration.status != 0 && duration.output.contains("--expires-in"))
        let unknown = try runCLI(["keys", "revoke", "--config", config, "key_missing"])
        #expect(unknown.status == 1 && unknown.output.contains("no API key key_missing"))
    }
}

enum APIKey {
    /// What `Security.APIKey.displayPrefix(of:)` gives for a default-prefixed key: `mb_` and 8 characters.
    static func displayPrefixForTests(_ secret: String) -> String {
        String(secret.prefix(3 + 8))
    }
}
