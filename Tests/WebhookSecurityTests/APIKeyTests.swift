import WebhookSecurity
import Testing

@Suite("API keys")
struct APIKeyTests {
    @Test func generatedKeysAreUniqueAndLongEnough() {
        let keys = (0..<1_000).map { _ in APIKey.generate() }
        #expect(Set(keys.map(\.secret)).count == keys.count)
        for key in keys {
            #expect(key.secret.hasPrefix("mb_"))
            // 32 bytes in unpadded base64url is 43 characters, all URL-safe.
            let random = key.secret.dropFirst(3)
            #expect(random.count == 43)
            #expect(random.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        }
        #expect(APIKey.generate(prefix: "mbt_", byteCount: 48).secret.count == 4 + 64)
        // Asking for fewer than 32 bytes still yields 32.
        #expect(APIKey.generate(byteCount: 8).secret.count == 3 + 43)
    }

    @Test func hashIsHexSHA256OfTheWholeKey() {
        // python3 -c "import hashlib;print(hashlib.sha256(b'mb_example').hexdigest())"
        #expect(APIKey.hash("mb_example") == "3ffe98a49265097e38d8b2471e61fcdf8623a6dd3ea8c0cf46a0304c1b6ce74b")
    }

    @Test func hashRoundTripsAndWrongKeyFails() {
        let key = APIKey.generate()
        #expect(key.hash == APIKey.hash(key.secret))
        #expect(key.hash.count == 64)
        #expect(APIKey.matches(key.secret, storedHash: key.hash))
        #expect(APIKey.matches(key.secret, storedHash: key.hash.uppercased()))
        #expect(!APIKey.matches(APIKey.generate().secret, storedHash: key.hash))
        #expect(!APIKey.matches(String(key.secret.dropLast()), storedHash: key.hash))
        #expect(!APIKey.matches(key.secret, storedHash: ""))
    }

    @Test func displayPrefixShowsOnlyTheStart() {
        let key = APIKey.generate()
        #expect(key.displayPrefix == String(key.secret.prefix(3 + 8)))
        #expect(APIKey.displayPrefix(of: key.secret) == key.displayPrefix)
        #expect(!"\(key)".contains(key.secret))
    }

    @Test func constantTimeComparison() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(constantTimeEquals("abc", "abc"))
        #expect(!constantTimeEquals("abc", "abd"))
    }
}
