extension SandboxProfile {
    /// The profile as one JSON object (for `--print-profile`, logs and the tool result envelope). Written by hand:
    /// the launcher does not link Foundation.
    public var json: String {
        var fields: [(String, String)] = [
            ("name", Self.quote(name)),
            ("workspace", workspace.map(Self.quote) ?? "null"),
            ("workspace_writable", "\(workspaceWritable)"),
            (
                "binds",
                "["
                    + binds.map {
                        "{\"path\":\(Self.quote($0.path)),\"writable\":\($0.writable)"
                            + ($0.target.map { ",\"target\":\(Self.quote($0))" } ?? "") + "}"
                    }
                    .joined(separator: ",") + "]"
            ),
        ]
        switch network {
        case .none: fields.append(("network", "\"none\""))
        case .host(let allow):
            fields.append(("network", allow.isEmpty ? "\"none\"" : "\"host\""))
            fields.append(("net_allow", "[" + allow.map(Self.quote).joined(separator: ",") + "]"))
        case .unrestricted: fields.append(("network", "\"host-unrestricted\""))
        }
        fields += [
            ("host_uid", "\(hostUID)"), ("host_gid", "\(hostGID)"), ("inside_uid", "\(insideUID)"),
            (
                "environment",
                "{"
                    + environment.sorted { $0.key < $1.key }.map { "\(Self.quote($0.key)):\(Self.quote($0.value))" }
                    .joined(separator: ",") + "}"
            ),
            ("working_directory", (workingDirectory ?? workspace).map(Self.quote) ?? "null"),
            ("memory_bytes", limits.memoryBytes.map { "\($0)" } ?? "null"),
            ("pids", limits.pids.map { "\($0)" } ?? "null"),
            ("cpu_seconds", limits.cpuSeconds.map { "\($0)" } ?? "null"),
            ("best_effort_limits", "\(limits.bestEffort)"),
            ("wall_clock_seconds", wallClockSeconds.map { "\($0)" } ?? "null"),
            ("protected_paths", "[" + protectedPaths.map(Self.quote).joined(separator: ",") + "]"),
            ("hostname", Self.quote(hostname)),
        ]
        return "{" + fields.map { "\(Self.quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A JSON string literal.
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
