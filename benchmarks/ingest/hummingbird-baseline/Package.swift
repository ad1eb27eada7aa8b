// swift-tools-version: 6.1
// Plain Hummingbird answering a fixed 202, for the ingest benchmark: the framework's own ceiling on this machine,
// measured in the same run as nginx and MessageBridge. Not part of the product or of CI.
import PackageDescription

let package = Package(
    name: "hummingbird-baseline",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdBaseline",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ]
)
