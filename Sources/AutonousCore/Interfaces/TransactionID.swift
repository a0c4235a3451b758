/// The shape of a self-update transaction id: `tx-` and 8 characters of lowercase base32 (RFC 4648), such as
/// `tx-k3m7qa2z`. The `transactions` table's CHECK constraint enforces the same shape.
///
/// Tool-approval ids are lowercase letters and digits only (`Approvals.isWellFormedID`), so the dash alone tells
/// the two kinds apart: `autonousctl approve ID` uses this to decide which decision it sends.
public enum TransactionID {
    /// Lowercase base32: the characters after `tx-`.
    public static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    /// True when `text` is `tx-` followed by exactly 8 characters of `alphabet`.
    public static func isWellFormed(_ text: String) -> Bool {
        let characters = Array(text)
        return characters.count == 11 && text.hasPrefix("tx-") && characters[3...].allSatisfy { alphabet.contains($0) }
    }
}
