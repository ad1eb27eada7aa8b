import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Per-request steps that several schemes share: reading a header, parsing and checking a signed timestamp, and
// comparing presented MACs with the expected ones in constant time.

extension WebhookVerifier {
    /// Whether any presented MAC equals the MAC of `signedPrefix + body` under any key, compared in constant time.
    static func anyMatches(
        _ presented: [[UInt8]],
        keys: [SymmetricKey],
        algorithm: VerifierConfiguration.Algorithm,
        signedPrefix: [UInt8],
        body: UnsafeRawBufferPointer
    ) -> Bool {
        guard !presented.isEmpty else {
            return false
        }
        for key in keys {
            let expected: [UInt8] =
                switch algorithm {
                case .sha256: Self.authenticationCode(SHA256.self, key: key, signedPrefix: signedPrefix, body: body)
                case .sha512: Self.authenticationCode(SHA512.self, key: key, signedPrefix: signedPrefix, body: body)
                }
            for candidate in presented where constantTimeEquals(candidate, expected) {
                return true
            }
        }
        return false
    }

    private static func authenticationCode<Hash: HashFunction>(
        _: Hash.Type,
        key: SymmetricKey,
        signedPrefix: [UInt8],
        body: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var hmac = HMAC<Hash>(key: key)
        hmac.update(data: signedPrefix)
        hmac.update(data: body)
        return Array(hmac.finalize())
    }

    /// The failure for a signed timestamp further than the tolerance from `now`, or `nil` when it is within it.
    func checkTimestamp(_ seconds: Int64, now: Date) -> VerificationFailure? {
        let age = now.timeIntervalSince1970 - Double(seconds)
        if age > self.toleranceSeconds {
            return VerificationFailure(code: .timestampTooOld)
        }
        if -age > self.toleranceSeconds {
            return VerificationFailure(code: .timestampInFuture)
        }
        return nil
    }

    // MARK: - Parsing helpers

    /// A header's trimmed value, treating an empty value as absent since it can carry no signature.
    static func value(of name: String, in headers: (String) -> String?) -> String? {
        guard let raw = headers(name) else {
            return nil
        }
        let trimmed = raw[...].trimmingHTTPWhitespace()
        return trimmed.isEmpty ? nil : String(trimmed)
    }

    /// Unix seconds written as ASCII digits; bounded so a hostile value cannot overflow.
    static func unixSeconds(_ text: Substring) -> Int64? {
        guard (1...12).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return nil
        }
        return Int64(text)
    }

    /// Whether two HTTP field names are equal, ignoring case.
    static func fieldNamesMatch(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count && lhs.lowercased() == rhs.lowercased()
    }
}

extension Substring {
    /// Drops the spaces and tabs HTTP allows around field values and list items.
    func trimmingHTTPWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" {
            result = result.dropFirst()
        }
        while let last = result.last, last == " " || last == "\t" {
            result = result.dropLast()
        }
        return result
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number, for arithmetic with Unix timestamps and refill rates.
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
