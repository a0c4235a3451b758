// swift-tools-version:6.2
import PackageDescription

// Release executables keep their debug information (addr2line, gdb and perf read it) compressed with zlib: the worker
// a self-update builds is hashed before every spawn and kept among the artifacts, and its 21 MB of DWARF shrink to
// about 7 MB (README.md, "Building").
let compressedDebugInformation = LinkerSetting.unsafeFlags(
    ["-Xlinker", "--compress-debug-sections=zlib"], .when(configuration: .release))

// The daemons' release executables, linked by the toolchain's lld: their 2.2 MB of relative relocations packed
// (RELR, glibc 2.36) into 18 KB the loader reads at every start, and no dynamic symbol table of their own (the
// toolchain exports every symbol of an executable's own code, 1.3 MB of tables each lookup of a library's symbol
// walked). 1.5 MiB less resident in each daemon (README.md, "Where the idle memory goes").
let daemonLinking = LinkerSetting.unsafeFlags(
    [
        "-Xlinker", "--compress-debug-sections=zlib", "-use-ld=lld", "-Xlinker", "-z", "-Xlinker",
        "pack-relative-relocs", "-Xlinker", "--no-export-dynamic",
    ], .when(configuration: .release))

// Dependency versions are the ones the build machines mirror; see README.md "Building".
let package = Package(
    name: "autonous",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "autonous-supervisord", targets: ["Supervisord"]),
        .executable(name: "autonous-worker", targets: ["Worker"]),
        .executable(name: "autonous-sandbox", targets: ["SandboxExec"]),
        .executable(name: "autonousctl", targets: ["autonousctl"]),
        // `make bench` only: the storage benchmarks that run in-process (never installed).
        .executable(name: "autonous-bench", targets: ["Bench"]),
        .library(name: "AutonousCore", targets: ["AutonousCore"]),
        .library(name: "Sandbox", targets: ["Sandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        // The worker's HTTP client (FoundationNetworking's URLSession spins and cannot rewind a body).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Optimised in debug builds too: its SHA-256 compression would hash a 1 GiB file 10 times slower at -O0.
        .target(name: "CLinux", cSettings: [.unsafeFlags(["-O2"])]),
        .target(
            name: "AutonousCore",
            dependencies: [
                "CLinux",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Metadata accessors instead of mangled names for concrete generic types: the runtime would demangle and
        // check them against every conformance record in each launcher process (0.6 ms of CPU per launch).
        .target(
            name: "Sandbox", dependencies: ["CLinux", "CSeccomp", "CCap"],
            swiftSettings: [.unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"])]
        ),
        // A fully static launcher: no dynamic loader or Swift runtime libraries to map at every launch (startup
        // 1.3 ms instead of 4.4 ms), and it runs unchanged inside another sandbox that lacks the toolchain.
        .executableTarget(
            name: "SandboxExec", dependencies: ["Sandbox"],
            linkerSettings: [.unsafeFlags(["-static-executable"]), compressedDebugInformation]
        ),
        .executableTarget(
            name: "Supervisord",
            dependencies: [
                "AutonousCore",
                "Sandbox",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            linkerSettings: [daemonLinking]
        ),
        .executableTarget(
            name: "Worker",
            dependencies: [
                "AutonousCore",
                "CCurl",
                "CLinux",
                "Sandbox",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            linkerSettings: [daemonLinking]
        ),
        .executableTarget(
            name: "autonousctl",
            dependencies: [
                "AutonousCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: [daemonLinking]
        ),
        .executableTarget(
            name: "Bench",
            dependencies: ["AutonousCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "AutonousCoreTests",
            dependencies: ["AutonousCore", "CLinux", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "SupervisordTests", dependencies: ["Supervisord", "AutonousCore"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "AutonousCore", "Sandbox"]),
        // The Sandbox library's own logic (path confinement for the native tools).
        .testTarget(name: "SandboxLibraryTests", dependencies: ["Sandbox"]),
        // Containment cases of SANDBOX-TESTS.md, run against the real autonous-sandbox binary.
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "AutonousCore"]),
        // autonousctl's parsing and rendering, without a daemon (IntegrationTests run the binary against one).
        .testTarget(name: "AutonousctlTests", dependencies: ["autonousctl", "AutonousCore"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["AutonousCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ]
)
