extension ConfigurationCatalog {
    /// The command that prints `environmentFileExample` (and regenerates `systemd/autonous.env.example`).
    public static let environmentFileCommand = "autonous-supervisord --print-env-example"

    /// `systemd/autonous.env.example`: every operator variable commented out with its default and its meaning,
    /// grouped; secrets point at the unit's `LoadCredential=` instead of a value.
    public static var environmentFileExample: String {
        var lines = [
            "# autonous: the environment of autonous-supervisord and of the worker it starts.",
            "#",
            "# Generated from the configuration code by `\(environmentFileCommand)`;",
            "# edit Sources/AutonousCore/Config/ConfigurationCatalog.swift, not this file, and regenerate it.",
            "#",
            "# Install it as /etc/autonous/autonous.env (autonous.service's EnvironmentFile=), or as",
            "# /etc/autonous/NAME/autonous.env for the instance autonous@NAME.service, mode 0640, owner root.",
            "# Every variable is commented out with its default: uncomment and change only what you need. An empty",
            "# default is none, or computed (the line above it says how). Blank values count as unset. Durations",
            "# are written 500ms, 5s, 2m or 1h. A wrong value stops the daemon with exit status 78 (EX_CONFIG, which",
            "# the unit does not restart) and a message naming the variable: `journalctl -u autonous` shows it.",
            "#",
            "# Secrets do not belong here: the unit reads them as systemd credentials (LoadCredential=, or",
            "# LoadCredentialEncrypted= with `systemd-creds encrypt`); see the README, \"Running under systemd\".",
        ]
        for group in groups {
            lines += ["", "## " + group.title]
            for variable in group.variables {
                lines.append("")
                lines.append("# " + variable.meaning)
                if case .secret(let credential) = variable.kind {
                    lines.append(
                        "# Secret: better as the credential file /etc/credstore/autonous.\(credential) (LoadCredential=)."
                    )
                }
                lines.append("#\(variable.name)=\(variable.defaultValue)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
