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
    ],
    targets: [
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .target(
            name: "ComposeModel",
            dependencies: ["CYAML"],
            exclude: ["README.md"]
        ),
        .target(
            name: "Engine",
            dependencies: [],
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
        .testTarget(name: "CLITests", dependencies: ["CLI"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
