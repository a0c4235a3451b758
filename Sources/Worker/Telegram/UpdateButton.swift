import AutonousCore
import Foundation

/// One of the Approve and Reject buttons under a staged self-update's message, and its callback data.
///
/// The button names the full artifact sha256, not a prefix: the supervisor checks it against the staged artifact, so
/// a press can only ever approve what the admin was shown. Telegram allows 1 to 64 bytes of callback_data, and 64 hex
/// characters alone would fill that, so the data is `u:<tx>:<a|r>:<sha256>` with the sha256 as 43 characters of
/// unpadded base64url (RFC 4648 §5): 2 + 11 + 1 + 1 + 1 + 43 = 59 bytes. Decoding accepts only exactly that shape
/// (and the canonical encoding of the 32 bytes), so two strings never name the same decision.
struct UpdateButton: Equatable, Sendable {
    /// The transaction, `tx-` and 8 characters of lowercase base32 (`TransactionID`).
    let tx: String
    /// The artifact's sha256, 64 lowercase hex characters.
    let sha256: String
    let approve: Bool

    /// Telegram's limit for callback_data, in bytes.
    static let maxCallbackBytes = 64

    /// A button for `tx` and `sha256`, or nil when either is malformed.
    init?(tx: String, sha256: String, approve: Bool) {
        guard TransactionID.isWellFormed(tx), Self.isWellFormedSHA256(sha256) else { return nil }
        self.tx = tx
        self.sha256 = sha256
        self.approve = approve
    }

    /// The button a press names, or nil when `callbackData` is not exactly `u:<tx>:<a|r>:<43 base64url characters>`.
    init?(callbackData: String?) {
        guard let parts = callbackData?.split(separator: ":", omittingEmptySubsequences: false), parts.count == 4,
            parts[0] == "u", parts[2] == "a" || parts[2] == "r",
            let digest = Self.decodeBase64URL(String(parts[3])), digest.count == 32
        else { return nil }
        self.init(
            tx: String(parts[1]), sha256: SHA256.lowercaseHex(digest), approve: parts[2] == "a")
    }

    /// `u:<tx>:<a|r>:<sha256 as unpadded base64url>`.
    var callbackData: String {
        "u:\(tx):\(approve ? "a" : "r"):" + Self.encodeBase64URL(Self.bytes(hex: sha256))
    }

    /// The reply_markup of a staged update's message: one row with Approve and Reject; nil when `tx` or `sha256` is
    /// malformed (the message is then sent without buttons).
    static func keyboard(tx: String, sha256: String) -> JSONValue? {
        guard let approve = UpdateButton(tx: tx, sha256: sha256, approve: true),
            let reject = UpdateButton(tx: tx, sha256: sha256, approve: false)
        else { return nil }
        return .object([
            "inline_keyboard": .array([
                .array([
                    .object(["text": .string("Approve"), "callback_data": .string(approve.callbackData)]),
                    .object(["text": .string("Reject"), "callback_data": .string(reject.callbackData)]),
                ])
            ])
        ])
    }

    /// True for exactly 64 lowercase hex characters.
    static func isWellFormedSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30 ... 0x39).contains($0) || (0x61 ... 0x66).contains($0) }
    }

    /// The bytes of lowercase hex (well formed: `isWellFormedSHA256` was checked).
    private static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8).map { $0 <= 0x39 ? $0 - 0x30 : $0 - 0x61 + 10 }
        return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
    }

    private static func encodeBase64URL(_ bytes: [UInt8]) -> String {
        String(
            Data(bytes).base64EncodedString().compactMap { character -> Character? in
                switch character {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: character
                }
            })
    }

    /// The bytes of unpadded base64url, or nil for any other alphabet, length or a non-canonical last character.
    private static func decodeBase64URL(_ text: String) -> [UInt8]? {
        guard text.count % 4 != 1,
            text.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        guard let data = Data(base64Encoded: standard) else { return nil }
        let bytes = [UInt8](data)
        // Unused low bits in the last character would give a second spelling of the same bytes: refuse it.
        return encodeBase64URL(bytes) == text ? bytes : nil
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (0x30 ... 0x39).contains(self) || (0x41 ... 0x5A).contains(self) || (0x61 ... 0x7A).contains(self)
    }
}
