import Foundation

/// A structural check of a varlink interface description (IDL), for the self-check: AutonousCore has no IDL
/// parser, and generic clients (varlinkctl, python varlink) reject a description that does not parse, so a revision
/// whose description is broken must not be deployed.
///
/// It checks what a broken edit would break: the first declaration is `interface <name>`; every other
/// declaration starts with `type`, `method` or `error` and a capitalised member name, declared once; parentheses
/// balance; and each method the caller needs is declared.
enum VarlinkIDLCheck {
    /// Returns nil when `description` declares `interface` with every method in `methods`.
    ///
    /// - Throws: `SelfCheckFailure` naming the first line or method that is wrong.
    static func verify(_ description: String, interface: String, methods: [String]) throws -> String? {
        var declaredInterface: String?
        var members: Set<String> = []
        var declaredMethods: Set<String> = []
        var depth = 0
        for (index, rawLine) in description.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let outer = depth == 0
            depth += line.filter { $0 == "(" }.count - line.filter { $0 == ")" }.count
            guard depth >= 0 else { throw SelfCheckFailure("line \(index + 1): a ')' closes nothing") }
            // Lines inside a declaration's parentheses are its fields.
            guard outer else { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "(" }).map(String.init)
            guard let keyword = words.first, words.count >= 2 else {
                throw SelfCheckFailure("line \(index + 1) is not a declaration: '\(line)'")
            }
            if declaredInterface == nil {
                guard keyword == "interface" else {
                    throw SelfCheckFailure("the description must start with 'interface \(interface)', not '\(line)'")
                }
                declaredInterface = words[1]
                continue
            }
            guard ["type", "method", "error"].contains(keyword) else {
                throw SelfCheckFailure("line \(index + 1): unknown declaration '\(keyword)'")
            }
            let member = words[1]
            guard let first = member.first, first.isUppercase, member.allSatisfy({ $0.isLetter || $0.isNumber }) else {
                throw SelfCheckFailure("line \(index + 1): '\(member)' is not a valid member name")
            }
            guard members.insert(member).inserted else {
                throw SelfCheckFailure("line \(index + 1): '\(member)' is declared twice")
            }
            if keyword == "method" { declaredMethods.insert(member) }
        }
        guard depth == 0 else { throw SelfCheckFailure("a '(' is never closed") }
        guard declaredInterface == interface else {
            throw SelfCheckFailure(
                "the description declares '\(declaredInterface ?? "no interface")', not '\(interface)'")
        }
        let missing = methods.filter { !declaredMethods.contains($0) }
        guard missing.isEmpty else {
            throw SelfCheckFailure("\(interface) does not declare \(missing.joined(separator: ", "))")
        }
        return nil
    }
}
