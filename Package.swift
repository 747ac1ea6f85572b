// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Dyadic",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Dyadic", targets: ["Dyadic"]),
        .library(name: "DyadicONNX", targets: ["DyadicONNX"]),
        .executable(name: "runmodel", targets: ["runmodel"]),
        .executable(name: "latency", targets: ["latency"]),
        .executable(name: "quantize", targets: ["quantize"]),
        .executable(name: "dyadic-fuzz", targets: ["dyadic-fuzz"]),
        .executable(name: "classify-photo", targets: ["classify-photo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(name: "DyadicKernels", path: "kernels", exclude: ["tests", "README.md"],
                sources: ["src"], publicHeadersPath: "include"),
        .target(name: "Dyadic", dependencies: ["DyadicKernels"]),
        // Quantization algorithms, and the pipeline that applies them to an ONNX model.
        .target(name: "DyadicQuantizer", dependencies: ["Dyadic", "DyadicKernels", "DyadicONNX"]),
        .target(name: "DyadicONNX", dependencies: [
            "Dyadic", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // What the command-line tools share: one-line errors and exit statuses.
        .target(name: "ToolSupport", dependencies: [
            "Dyadic", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "runmodel", dependencies: [
            "Dyadic", "DyadicONNX", "ToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "latency", dependencies: [
            "Dyadic", "DyadicONNX", "ToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "quantize", dependencies: [
            "Dyadic", "DyadicONNX", "DyadicQuantizer", "ToolSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fuzz harnesses (tools/fuzz.sh); a normal build replays inputs through them.
        .executableTarget(name: "dyadic-fuzz", dependencies: ["Dyadic", "DyadicONNX"]),
        // The public API in an app's shoes: classifies the bundled photo.
        .executableTarget(name: "classify-photo", dependencies: ["Dyadic", "DyadicONNX"], path: "Examples/ClassifyPhoto"),
        .testTarget(name: "DyadicTests", dependencies: ["Dyadic", "DyadicKernels"]),
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        .testTarget(name: "DyadicONNXTests", dependencies: ["Dyadic", "DyadicONNX", "DyadicQuantizer", "AllocationCounter"]),
        .testTarget(name: "QuantizerTests", dependencies: ["DyadicQuantizer"]),
    ]
)
