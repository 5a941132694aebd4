// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swcompose",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "swcompose", targets: ["CLI"]),
        .executable(name: "swcompose-runtime", targets: ["RuntimeHelper"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .systemLibrary(
            name: "CArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]
        ),
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        .target(name: "CLinux"),
        .target(name: "Diagnostics", exclude: ["README.md"]),
        .target(
            name: "ComposeModel",
            dependencies: ["CYAML", "Diagnostics"],
            exclude: ["README.md"]
        ),
        // The container core. Its registry client (SwiftNIO, BoringSSL) is a module of its own in
        // the same folder, so that the processes that watch containers do not carry it.
        .target(
            name: "Engine",
            dependencies: ["Diagnostics", "CArchive", "CLinux", "CSeccomp", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md", "Images/Registry"]
        ),
        .target(
            name: "Registry",
            dependencies: ["Engine", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
            path: "Sources/Engine/Images/Registry"
        ),
        .target(
            name: "Scheduler",
            dependencies: ["ComposeModel", "Engine", "Registry"],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "CLI",
            dependencies: [
                "ComposeModel",
                "Scheduler",
                "Engine",
                "Registry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"]
        ),
        // The processes that outlive a command or become part of a container: the supervisor, the
        // start helper, the exec helper. Engine alone, installed beside `swcompose`.
        .executableTarget(name: "RuntimeHelper", dependencies: ["Engine"], exclude: ["README.md"]),
        .testTarget(name: "ComposeModelTests", dependencies: ["ComposeModel"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "ComposeModel"]),
        .target(name: "TestSupport", dependencies: ["Engine"], path: "Tests/TestSupport"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Registry", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["CLI", "TestSupport", "Engine", "Registry"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
