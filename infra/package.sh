#!/usr/bin/env bash
# Builds each function's Lambda artifact (`bootstrap` in a zip) with cargo-lambda
# from the project's tool environment (.venv/moto: cargo-lambda + ziglang).
#
#   infra/package.sh              # x86_64 (default)
#   ARCH=arm64 infra/package.sh   # cross-build for Graviton; needs the Rust
#                                 # target aarch64-unknown-linux-gnu installed
#
# Zips land in $CARGO_TARGET_DIR/lambda/<arch>/<function>/bootstrap.zip (the
# shared target directory, so the release build reuses what is already there).
# `sam build` builds from source itself; this script is for inspecting sizes and
# for deploying the zips some other way.
set -euo pipefail

cd "$(dirname "$0")/.."

export SAM_CLI_TELEMETRY=0
VENV_BIN="$PWD/.venv/moto/bin"
FUNCTIONS=(intake worker notifier order-status admin-digest confirmation)
ARCH=${ARCH:-x86_64}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

case $ARCH in
    x86_64 | x86-64 | amd64)
        ARCH=x86_64 triple=x86_64-unknown-linux-gnu arch_flag=--x86-64 ;;
    arm64 | aarch64)
        ARCH=arm64 triple=aarch64-unknown-linux-gnu arch_flag=--arm64 ;;
    *)
        echo "package: unknown ARCH=$ARCH (use x86_64 or arm64)" >&2
        exit 2 ;;
esac

[[ -x $VENV_BIN/cargo-lambda ]] || {
    echo "package: $VENV_BIN/cargo-lambda missing: run \`make venvs\`" >&2
    exit 1
}
# cargo-lambda runs `cargo lambda ...` through PATH, and cargo-zigbuild finds zig
# as `python3 -m ziglang` (the ziglang wheel) when no `zig` is on PATH: the
# venv's python3 must come first.
export PATH="$VENV_BIN:$PATH"
python3 -m ziglang version >/dev/null 2>&1 || {
    echo "package: zig not found (python3 -m ziglang failed in $VENV_BIN)" >&2
    exit 1
}

# The Rust standard library for the target must already be installed: there is
# no network to download it here, and cargo-lambda would otherwise try to.
sysroot=$(rustc --print sysroot)
if [[ ! -d $sysroot/lib/rustlib/$triple ]]; then
    echo "package: Rust target $triple is not installed for $(rustc --version)." >&2
    echo "package: install it with \`rustup target add $triple\` (needs network), then re-run ARCH=$ARCH." >&2
    exit 1
fi

lambda_dir="$TARGET_DIR/lambda/$ARCH"
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(--package "$f"); done

echo "package: cargo lambda build --release --output-format zip $arch_flag (${FUNCTIONS[*]})"
cargo lambda build --release --output-format zip "$arch_flag" \
    --skip-target-check --lambda-dir "$lambda_dir" "${packages[@]}"

for f in "${FUNCTIONS[@]}"; do
    zip="$lambda_dir/$f/bootstrap.zip"
    [[ -f $zip ]] || { echo "package: $zip was not produced" >&2; exit 1; }
    size=$(stat -c %s "$zip")
    printf '%-12s %s  %s bytes (%s KiB)\n' "$f" "$zip" "$size" "$((size / 1024))"
done
