import Foundation

/// An HTTP request for `HTTPTransport`: a method, a URL, header fields and an optional body.
///
/// Shaped like Foundation's `URLRequest` (which lives in FoundationNetworking on Linux) so callers read the same.
struct HTTPRequest: Sendable {
    var url: URL
    /// The method; "GET" unless set.
    var httpMethod = "GET"
    /// The body, sent as is with its length; nil sends none.
    var httpBody: Data?
    /// Header fields in the order set; names compare case-insensitively.
    private(set) var headerFields: [(name: String, value: String)] = []

    init(url: URL) {
        self.url = url
    }

    /// Sets a header field, replacing any of the same name (compared case-insensitively).
    mutating func setValue(_ value: String, forHTTPHeaderField name: String) {
        headerFields.removeAll { $0.name.lowercased() == name.lowercased() }
        headerFields.append((name, value))
    }

    /// A header field by case-insensitive name.
    func value(forHTTPHeaderField name: String) -> String? {
        headerFields.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
