import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network such as `127.0.0.1/32` or `::1/128`; a bare address means that one address.
public struct CIDRBlock: Sendable, Equatable, CustomStringConvertible {
    /// The network address, 4 or 16 bytes.
    public let address: [UInt8]
    /// How many leading bits must match.
    public let prefixLength: Int

    /// Parses `address/prefix` or a bare address; `nil` when the text is not one.
    public init?(_ text: String) {
        let parts = Self.trimmingSpaces(Substring(text)).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let address = Self.parseAddress(String(parts[0])) else { return nil }
        let maximum = address.count * 8
        var prefixLength = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value) else { return nil }
            prefixLength = value
        }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Whether `ip` (textual, e.g. `127.0.0.1`, `::1` or `::ffff:127.0.0.1`) is inside this network.
    public func contains(_ ip: String) -> Bool {
        guard let candidate = Self.parseAddress(ip) else { return false }
        return contains(address: candidate)
    }

    /// Whether an address of ``parseAddress(_:)``'s bytes is inside this network: for checking one address against
    /// several networks without parsing it for each.
    public func contains(address candidate: [UInt8]) -> Bool {
        var candidate = candidate
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        if address.count == 4, candidate.count == 16, candidate[0..<10].allSatisfy({ $0 == 0 }),
           candidate[10] == 0xFF, candidate[11] == 0xFF {
            candidate = Array(candidate[12...])
        }
        guard candidate.count == address.count else { return false }
        var remaining = prefixLength
        for index in address.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if candidate[index] & mask != address[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// `address/prefix`.
    public var description: String {
        let text: String
        if address.count == 4 {
            text = address.map(String.init).joined(separator: ".")
        } else {
            text = stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return "\(text)/\(prefixLength)"
    }

    /// The bytes of a textual IPv4 or IPv6 address (surrounding brackets and a zone suffix are ignored).
    public static func parseAddress(_ text: String) -> [UInt8]? {
        var text = trimmingSpaces(Substring(text))
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        let address = String(text)
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// `text` without leading and trailing spaces and tabs (what `trimmingCharacters(in: .whitespaces)` removes from
    /// an address, without Foundation's bridging, which showed in the egress benchmark's profile).
    private static func trimmingSpaces(_ text: Substring) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else {
            return text[text.endIndex...]
        }
        return text[first...last]
    }
}
