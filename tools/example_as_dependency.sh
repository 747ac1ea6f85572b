#!/usr/bin/env bash
# Builds Examples/ClassifyPhoto as an app would: a package of its own that depends on
# this repository by path and sees only Dyadic's public API, then runs it on the
# bundled photo from the repository root. Prints the example's output.
#   tools/example_as_dependency.sh [scratch directory]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
app=${1:-$(mktemp -d /tmp/dyadic-app.XXXXXX)}
mkdir -p "$app/Sources/App"
cp "$root/Examples/ClassifyPhoto/main.swift" "$app/Sources/App/main.swift"
cat > "$app/Package.swift" <<MANIFEST
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "App",
    dependencies: [.package(path: "$root")],
    targets: [
        .executableTarget(name: "App", dependencies: [
            .product(name: "Dyadic", package: "$(basename "$root")"),
            .product(name: "DyadicONNX", package: "$(basename "$root")"),
        ]),
    ]
)
MANIFEST
(cd "$app" && swift build 2>&1 | grep -E "warning:|error:" || true)
cd "$root"
"$app/.build/debug/App"
