import Sandbox

#if canImport(Glibc)
import Glibc
#endif

// autonous-sandbox: a single-threaded launcher. No Foundation, no Dispatch, no async here or in Sandbox: the
// namespace setup needs a process that has never started a second thread.

var environment: [String: String] = [:]
var pointer = environ
while let entry = pointer.pointee {
    let text = String(cString: entry)
    if let equals = text.firstIndex(of: "=") {
        environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
    }
    pointer += 1
}

let arguments: LauncherArguments
do {
    arguments = try LauncherArguments.parse(Array(CommandLine.arguments.dropFirst()), environment: environment)
} catch {
    let line = "autonous-sandbox: \(error)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(125)
}

switch arguments.mode {
case .help:
    print(LauncherArguments.usage)
case .check(let json):
    let findings = FeatureCheck.findings(simulateMissing: environment["AUTONOUS_SANDBOX_SIMULATE_MISSING"])
    if json {
        print("[" + findings.map(\.json).joined(separator: ",") + "]")
    } else {
        for finding in findings {
            let mark = finding.available ? "ok     " : finding.required ? "MISSING" : "limited"
            print("\(mark) \(finding.feature): \(finding.detail)")
            if !finding.advice.isEmpty { print("        \(finding.advice)") }
        }
    }
    exit(findings.contains { !$0.available && $0.required } ? 1 : 0)
case .printProfile:
    if let profile = arguments.profile { print(profile.json) }
case .run(let command):
    guard let profile = arguments.profile else { exit(125) }
    let launcher = Launcher(
        profile: profile, command: command, statusFD: arguments.statusFD, dieWithParent: arguments.dieWithParent,
        environment: environment)
    exit(launcher.run())
}
