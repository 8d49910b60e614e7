// swift-tools-version: 6.0
// Tailor: fine-tune a local LLM on your own JSONL data and get a LoRA adapter every runtime loads.
// Module layout and the one-way import rules are in DESIGN.md §2.
import Foundation
import PackageDescription

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

// Kernels are compiled for the CPU that builds them (Tailor is built where it runs): AVX-512 or AVX2 vectors
// instead of the SSE2 baseline.
// They are optimized in debug builds too, so logic tests and CLI tests on a real model run at usable speed.
let native: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "native"], .when(platforms: [.linux])),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

#if os(macOS)
let blas: [Target.Dependency] = []
let blasLinker: [LinkerSetting] = [.linkedFramework("Accelerate")]
let matmul: [Target.Dependency] = []
let matmulSettings: [SwiftSetting] = []
#else
let blas: [Target.Dependency] = ["CBLAS"]
let blasLinker: [LinkerSetting] = []
// oneDNN (libdnnl-dev, installed by `make deps`) runs the products; without its header Tailor builds on OpenBLAS alone.
let hasOneDNN = FileManager.default.fileExists(atPath: "/usr/include/oneapi/dnnl/dnnl.h")
let matmul: [Target.Dependency] = hasOneDNN ? ["DNNL"] : []
let matmulSettings: [SwiftSetting] = hasOneDNN ? [.define("TAILOR_ONEDNN")] : []
#endif

let package = Package(
    name: "Tailor",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tailor", targets: ["tailor"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "DNNL", path: "Sources/DNNL", providers: [.apt(["libdnnl-dev"])]),
        .target(
            name: "Tensors", dependencies: blas + matmul, swiftSettings: strict + native + matmulSettings,
            linkerSettings: blasLinker),
        // C: integer dot products of quant blocks with int8 activations (AVX512-VNNI / AVX2, chosen from cpuid).
        .target(name: "BlockKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Formats", dependencies: ["BlockKernels"], swiftSettings: strict + native),
        .target(name: "Tokenizers", dependencies: ["Formats"], swiftSettings: strict),
        .target(name: "ChatTemplates", swiftSettings: strict),
        .target(name: "Models", dependencies: ["Tensors", "Formats"], swiftSettings: strict + native),
        .target(name: "Datasets", dependencies: ["Tokenizers", "ChatTemplates", "Formats"], swiftSettings: strict),
        .target(
            name: "Training",
            dependencies: ["Models", "Datasets", "Tokenizers", "Tensors", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .target(name: "ModelStores", dependencies: ["Formats"], swiftSettings: strict),
        // Python/: the PyTorch backend's programs, started by `train --backend torch` and `doctor`.
        .target(
            name: "TorchBackend", dependencies: ["Training", "ModelStores"], resources: [.copy("Python")],
            swiftSettings: strict),
        .executableTarget(
            name: "tailor",
            dependencies: [
                "Tensors", "Formats", "Tokenizers", "ChatTemplates", "Models", "Datasets", "Training",
                "TorchBackend", "ModelStores", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // Paths to fixtures and fetched assets, shared by every test target.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        // Logic tests: fast in a debug build.
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Formats", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ModelStoresTests", dependencies: ["ModelStores", "Formats", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "Formats", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tokenizers", "ChatTemplates", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TorchBackend", "ModelStores", "Models", "Datasets", "Tensors", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "TailorCLITests", dependencies: ["Formats", "Models", "Training", "TestSupport"], swiftSettings: strict),
        // Heavy numeric tests (dequantization of real tensors, engine parity): run in release by `make test`.
        .testTarget(
            name: "NumericTests", dependencies: ["Formats", "Models", "Tensors", "TestSupport", "Tokenizers"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
