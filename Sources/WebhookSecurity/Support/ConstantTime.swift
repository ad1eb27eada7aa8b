/// Compares two byte sequences in time that depends only on their lengths, never on where they first differ.
///
/// An early-exit comparison lets an attacker learn a valid MAC or key hash one byte at a time by timing
/// responses. Lengths are not secret here (MAC and hash sizes are public), so a length mismatch returns at once.
///
/// - Returns: `true` when both sequences hold the same bytes.
public func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
    guard lhs.count == rhs.count else {
        return false
    }
    var difference: UInt8 = 0
    for (left, right) in zip(lhs, rhs) {
        difference |= left ^ right
    }
    return difference == 0
}

/// Compares two strings' UTF-8 bytes in time that depends only on their lengths.
///
/// - Returns: `true` when both strings hold the same UTF-8 bytes.
public func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    constantTimeEquals(lhs.utf8, rhs.utf8)
}
