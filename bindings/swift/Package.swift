// swift-tools-version:5.7
//
// The Swift binding of aigw. It needs libaigw and aigw.h installed where
// pkg-config finds them (`aigw.pc`), or their directories given by hand:
//
//   swift build -Xcc -I/path/to/aigw/include -Xlinker -L/path/to/aigw/lib
//
// NOTE: no Swift toolchain was available where this package was written; it
// has not been compiled. The module map it uses was checked with clang.
import PackageDescription

let package = Package(
    name: "AIGW",
    platforms: [.macOS(.v10_15), .iOS(.v13)],
    products: [
        .library(name: "AIGW", targets: ["AIGW"]),
    ],
    targets: [
        // The C API as a Clang module (Sources/CAigw/module.modulemap).
        .systemLibrary(name: "CAigw", path: "Sources/CAigw", pkgConfig: "aigw"),
        // The Swift wrapper.
        .target(
            name: "AIGW",
            dependencies: ["CAigw"],
            path: "Sources/AIGW",
            linkerSettings: [.linkedLibrary("aigw")]
        ),
    ]
)
