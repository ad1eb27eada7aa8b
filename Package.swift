// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "MessageBridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "messagebridge", targets: ["messagebridge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    ],
    targets: [
        // Domain: messages, settings as plain values, delivery and gateway policies, protocols for store and sinks.
        .target(
            name: "Core",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // YAML → configuration values, with key and line in every error; the starter config. (Not named
        // `Configuration`: apple/swift-configuration, which Hummingbird depends on, has a module of that name.)
        .target(
            name: "ConfigurationFile",
            dependencies: [
                "Core",
                .product(name: "Yams", package: "Yams"),
                // Verifiers and librdkafka's own property checks validate while loading, so a bad secret, key or
                // Kafka property is a configuration error on its key.
                "WebhookSecurity",
                "Kafka",
            ]
        ),
        // Inbound webhook verification and API key material: pure logic over swift-crypto.
        .target(
            name: "WebhookSecurity",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // SQLite (GRDB) implementation of the store protocols.
        .target(
            name: "Storage",
            dependencies: [
                "Core",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for copying claimed rows out of a statement without a Swift value per column.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // librdkafka, as Debian's librdkafka-dev ships it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // An async Kafka producer over librdkafka.
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Hummingbird wiring: buildApplication, controllers, middleware, sinks, services.
        .target(
            name: "App",
            dependencies: [
                "Core",
                "ConfigurationFile",
                "Storage",
                "Kafka",
                "WebhookSecurity",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            // The OpenAPI document, served at /openapi.yaml (OpenAPIDocument), and the web client's files, served at
            // / and /app/ (WebClientController); copied as they are, read with Bundle.module.
            resources: [.copy("Resources/openapi.yaml"), .copy("Resources/web")]
        ),
        // The command line only.
        .executableTarget(
            name: "messagebridge",
            dependencies: [
                "App",
                "ConfigurationFile",
                "Core",
                "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(name: "CoreTests", dependencies: ["Core"]),
        .testTarget(name: "ConfigurationFileTests", dependencies: ["ConfigurationFile", "Core"]),
        .testTarget(name: "WebhookSecurityTests", dependencies: ["WebhookSecurity"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Core"]),
        // librdkafka's mock cluster and a consumer, shared by the Kafka and App tests.
        .target(
            name: "KafkaTestSupport",
            dependencies: ["Kafka", "CRdKafka", .product(name: "Logging", package: "swift-log")],
            path: "Tests/KafkaTestSupport"
        ),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "CRdKafka", "KafkaTestSupport"]),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "App",
                "ConfigurationFile",
                "Core",
                "Storage",
                "messagebridge",
                "KafkaTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
                // An independent Standard Webhooks verifier in the event-webhook tests (HMAC and Ed25519 directly).
                .product(name: "Crypto", package: "swift-crypto"),
                // Reading a restored backup file directly.
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)
