// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swcompose",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "swcompose", targets: ["CLI"]),
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
        .target(
            name: "Engine",
            dependencies: ["Diagnostics", "CArchive", "CLinux", "CSeccomp", .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
            exclude: ["README.md"]
        ),
        .target(
            name: "Scheduler",
            dependencies: ["ComposeModel", "Engine"],
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "CLI",
            dependencies: [
                "ComposeModel",
                "Scheduler",
                "Engine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"]
        ),
        .testTarget(name: "ComposeModelTests", dependencies: ["ComposeModel"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "ComposeModel"]),
        .target(name: "TestSupport", dependencies: ["Engine"], path: "Tests/TestSupport"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["CLI", "TestSupport", "Engine"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
