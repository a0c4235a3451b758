import CCap
import CLinux
import CSeccomp

/// Facts about the sandbox implementation that the launcher and `autonousctl doctor` report.
public enum SandboxInfo {
    /// The libseccomp version linked in, as "major.minor.micro".
    public static var seccompVersion: String {
        guard let version = seccomp_version() else { return "unknown" }
        return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)"
    }
}
