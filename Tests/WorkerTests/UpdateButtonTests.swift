import AutonousCore
import Testing

@testable import Worker

/// The callback data of a staged update's Approve and Reject buttons: the full sha256 within Telegram's 64 bytes.
@Suite struct UpdateButtonTests {
    static let tx = "tx-k3m7qa2z"
    static let sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

    @Test func aButtonSurvivesTheRoundTripWithTheFullSHA256() throws {
        for approve in [true, false] {
            let button = try #require(UpdateButton(tx: Self.tx, sha256: Self.sha256, approve: approve))
            let data = button.callbackData
            #expect(data == "u:\(Self.tx):\(approve ? "a" : "r"):n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg")
            #expect(UpdateButton(callbackData: data) == button)
        }
    }

    @Test func everyButtonFitsTelegramsSixtyFourBytes() throws {
        let extremes = [String(repeating: "0", count: 64), String(repeating: "f", count: 64), Self.sha256]
        for sha256 in extremes {
            for tx in ["tx-aaaaaaaa", "tx-77777777", Self.tx] {
                let data = try #require(UpdateButton(tx: tx, sha256: sha256, approve: true)?.callbackData)
                #expect(data.utf8.count == 59 && data.utf8.count <= UpdateButton.maxCallbackBytes, "\(data)")
                #expect(UpdateButton(callbackData: data)?.sha256 == sha256)
            }
        }
    }

    @Test func malformedCallbackDataIsRejected() throws {
        let good = try #require(UpdateButton(tx: Self.tx, sha256: Self.sha256, approve: true)?.callbackData)
        let digest = String(good.split(separator: ":")[3])
        let malformed: [String?] = [
            nil, "", "u", "u:", good + ":", ":" + good, good + "A", String(good.dropLast()),
            "update:\(Self.tx):a:\(digest)", "U:\(Self.tx):a:\(digest)",
            "u:\(Self.tx):approve:\(digest)", "u:\(Self.tx)::\(digest)", "u:\(Self.tx):x:\(digest)",
            "u:tx-K3M7QA2Z:a:\(digest)", "u:tx-k3m7qa21:a:\(digest)", "u:tx-k3m7qa2:a:\(digest)",
            "u:k3m7qa2zz:a:\(digest)", "u:approval:a:\(digest)",
            // Padding, the standard alphabet, and a last character with unused bits set (a second spelling).
            "u:\(Self.tx):a:\(digest)=", "u:\(Self.tx):a:" + digest.replacingOccurrences(of: "-", with: "+"),
            "u:\(Self.tx):a:" + digest.dropLast() + "h",
            // 31 and 33 bytes.
            "u:\(Self.tx):a:" + digest.dropLast(2), "u:\(Self.tx):a:\(digest)AA",
            "approval:ab3k9xyz:approve",
        ]
        for data in malformed {
            #expect(UpdateButton(callbackData: data) == nil, "\(data ?? "nil")")
        }
    }

    @Test func aMalformedTransactionOrSHA256GetsNoButtons() {
        #expect(UpdateButton.keyboard(tx: Self.tx, sha256: Self.sha256) != nil)
        for (tx, sha256) in [
            ("tx-k3m7qa2", Self.sha256), ("tx-k3m7qa2z:", Self.sha256), ("", Self.sha256),
            (Self.tx, Self.sha256.uppercased()), (Self.tx, String(Self.sha256.dropLast())),
            (Self.tx, Self.sha256 + "0"),
            (Self.tx, String(Self.sha256.dropLast()) + "g"), (Self.tx, ""),
        ] {
            #expect(UpdateButton.keyboard(tx: tx, sha256: sha256) == nil, "\(tx) \(sha256)")
        }
    }
}
