// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "orrery",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "OrreryCore", targets: ["OrreryCore"]),
        .library(name: "OrrerySQLite", targets: ["OrrerySQLite"]),
        .library(name: "OrreryPostgres", targets: ["OrreryPostgres"]),
        .library(name: "OrreryEngine", targets: ["OrreryEngine"]),
        .library(name: "OrreryModules", targets: ["OrreryModules"]),
        .library(name: "OrreryHTTP", targets: ["OrreryHTTP"]),
        .executable(name: "orrery", targets: ["orrery"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "OrreryCore",
            swiftSettings: strict
        ),
        .target(
            name: "OrrerySQLite",
            dependencies: [
                "OrreryCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OrreryPostgres",
            dependencies: [
                "OrreryCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Swift concurrency's jobs on NIO's event loops (EventLoopConcurrency), for the
        // executables: the C part reaches the runtime's global-enqueue hook at link time.
        .target(name: "COrreryExecutorHook"),
        .target(
            name: "OrreryEventLoops",
            dependencies: [
                "COrreryExecutorHook",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OrreryEngine",
            dependencies: [
                "OrreryCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OrreryModules",
            dependencies: [
                "OrreryCore",
                "OrreryEngine",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // HMAC-SHA256 for webhook signatures (Notifications/WebhookTransport.swift).
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OrreryHTTP",
            dependencies: [
                "OrreryCore",
                "OrreryEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The OpenAPI document is compiled in (OpenAPIDocument+Embedded.swift, made by
            // scripts/embed-openapi), so a release binary needs no resource bundle beside it.
            // Likewise the dashboard's assets (DashboardAssets+Embedded.swift, scripts/embed-dashboard-assets).
            exclude: ["Resources/openapi.json", "Dashboard/Assets"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "orrery",
            dependencies: [
                "OrreryCore",
                "OrrerySQLite",
                "OrreryPostgres",
                "OrreryEngine",
                "OrreryModules",
                "OrreryHTTP",
                "OrreryEventLoops",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "OrreryBenchmark",
            dependencies: [
                "OrreryCore",
                "OrrerySQLite",
                "OrreryPostgres",
                "OrreryEngine",
                "OrreryModules",
                "OrreryEventLoops",
                "OrreryTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/OrreryBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "EmbeddedExample",
            dependencies: [
                "OrreryCore",
                "OrrerySQLite",
                "OrreryEngine",
                "OrreryModules",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/EmbeddedExample",
            swiftSettings: strict
        ),
        .target(
            name: "OrreryTesting",
            dependencies: [
                "OrreryCore",
                "OrrerySQLite",
                "OrreryPostgres",
                "OrreryEngine",
                "OrreryModules",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OrreryCoreTests",
            dependencies: ["OrreryCore", "OrreryTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OrrerySQLiteTests",
            dependencies: ["OrreryCore", "OrrerySQLite", "OrreryTesting", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OrreryStoreTests",
            dependencies: [
                "OrreryCore", "OrrerySQLite", "OrreryPostgres", "OrreryTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OrreryEngineTests",
            dependencies: [
                "OrreryCore", "OrrerySQLite", "OrreryEngine", "OrreryModules", "OrreryTesting",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "OrreryHTTPTests",
            dependencies: [
                "OrreryCore", "OrrerySQLite", "OrreryPostgres", "OrreryEngine", "OrreryModules", "OrreryHTTP", "OrreryTesting",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
