/// A configuration value that failed validation. Executables exit with `exitCode` (EX_CONFIG, 78) so systemd's
/// `RestartPreventExitStatus=78` stops the unit from looping on a mistake only an operator can fix.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// EX_CONFIG from sysexits.h.
    public static let exitCode: Int32 = 78

    /// The environment variable (or credential) that is wrong.
    public let variable: String
    /// What is wrong and what a valid value looks like.
    public let message: String

    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    public var description: String { "configuration error: \(variable): \(message)" }
}
