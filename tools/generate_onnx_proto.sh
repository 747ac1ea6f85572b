#!/usr/bin/env bash
# Regenerates Sources/DyadicONNX/Generated/onnx.pb.swift from the onnx.proto shipped
# with the `onnx` Python package. Needs `protoc` (Debian: protobuf-compiler) and the
# swift-protobuf plugin at the version Package.swift names; the plugin is built once
# into a scratch folder (about a minute on two cores) and reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=1.39.0
work=${PROTOC_GEN_SWIFT_DIR:-/tmp/dyadic-protoc-gen-swift}
plugin="$work/src/.build/release/protoc-gen-swift"
if [ ! -x "$plugin" ]; then
  mkdir -p "$work"
  [ -d "$work/src" ] || git clone -q https://github.com/apple/swift-protobuf.git "$work/src"
  git -C "$work/src" checkout -q "$version"
  (cd "$work/src" && swift build -c release --product protoc-gen-swift)
fi
proto_dir=$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')
echo "onnx.proto from onnx $(python3 -c 'import onnx; print(onnx.__version__)')"
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_out="$root/Sources/DyadicONNX/Generated" \
  --swift_opt=Visibility=Internal \
  -I "$proto_dir" "$proto_dir/onnx.proto"
echo "wrote Sources/DyadicONNX/Generated/onnx.pb.swift"
