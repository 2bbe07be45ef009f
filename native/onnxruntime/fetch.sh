#!/usr/bin/env bash
# Fetches the ONNX Runtime 1.29.0 native library for linux-x64 into native/onnxruntime/lib/ (ignored by git).
#
# Source: the npm package com.github.asus4.onnxruntime@0.4.9 (a repackaging of the official ONNX Runtime
# builds), pinned by version AND by the SHA-256 of its tarball below. The CUDA execution provider
# (com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9, 230 MB) is fetched only on request:
#   SALIENCY_ORT_GPU=1 native/onnxruntime/fetch.sh      or      native/onnxruntime/fetch.sh --gpu
#
# Called by the build (native/onnxruntime/OnnxRuntime.targets) before every build of Saliency.Models; it is
# idempotent and cheap when the library is already there (a stamp file records package and checksum).
# Several builds may run it at once: a lock serialises them and files are moved into place atomically.
#
# Skipped when SALIENCY_ORT_LIBRARY names an existing file (the user's library wins at run time anyway).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIB_DIR="$HERE/lib"

CPU_PACKAGE="com.github.asus4.onnxruntime"
GPU_PACKAGE="com.github.asus4.onnxruntime.linux-x64-gpu"
VERSION="0.4.9"          # ships ONNX Runtime 1.29.0 (C API version 29)
CPU_SHA256="e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d"
GPU_SHA256="2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412"
# Where the linux-x64 libraries sit inside both tarballs.
PLUGIN_DIR="package/Plugins/Linux/x64"
# The C API header of the same release (used by native/onnxruntime/print_slots.sh to check the binding's slots).
HEADER="package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers"

want_gpu="${SALIENCY_ORT_GPU:-0}"
for arg in "$@"; do
  case "$arg" in
    --gpu) want_gpu=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "fetch.sh: unknown argument '$arg' (use --gpu or --help)" >&2; exit 2 ;;
  esac
done

if [ -n "${SALIENCY_ORT_LIBRARY:-}" ] && [ -f "${SALIENCY_ORT_LIBRARY}" ] && [ "$want_gpu" != "1" ]; then
  echo "fetch.sh: SALIENCY_ORT_LIBRARY=${SALIENCY_ORT_LIBRARY} is set; not fetching ONNX Runtime."
  exit 0
fi

mkdir -p "$LIB_DIR"
exec 9>"$LIB_DIR/.lock"
flock 9

# download <package> <sha256> <dest.tgz> (the caller removes dest's folder): npm pack (honours the user's npm registry/proxy settings), else curl.
download() {
  local pkg="$1" sha="$2" dest="$3"
  local tmp="$(dirname "$dest")/download"
  mkdir -p "$tmp"
  echo "fetch.sh: downloading $pkg@$VERSION from the npm registry..."
  if command -v npm >/dev/null 2>&1; then
    (cd "$tmp" && npm pack --silent "$pkg@$VERSION" >/dev/null 2>"$tmp/npm.err") || { cat "$tmp/npm.err" >&2; true; }
  fi
  local tgz="$tmp/$pkg-$VERSION.tgz"
  if [ ! -f "$tgz" ]; then
    command -v curl >/dev/null 2>&1 || { echo "fetch.sh: neither npm nor curl could download $pkg@$VERSION; install npm or curl." >&2; return 1; }
    curl -fsSL --retry 3 -o "$tgz" "https://registry.npmjs.org/$pkg/-/$pkg-$VERSION.tgz"
  fi
  local actual
  actual="$(sha256sum "$tgz" | cut -d' ' -f1)"
  if [ "$actual" != "$sha" ]; then
    echo "fetch.sh: SHA-256 mismatch for $pkg@$VERSION: expected $sha, got $actual. Refusing to use it." >&2
    return 1
  fi
  mv "$tgz" "$dest"
}

# install <package> <sha256> <stamp name> <members...>: extract members into lib/ unless the stamp matches.
install_package() {
  local pkg="$1" sha="$2" stamp="$LIB_DIR/.$3.stamp"; shift 3
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pkg@$VERSION $sha" ]; then
    local ok=1 m
    for m in "$@"; do
      if [ "$(basename "$m")" = Headers ]; then [ -f "$LIB_DIR/include/onnxruntime_c_api.h" ] || ok=0
      else [ -f "$LIB_DIR/$(basename "$m")" ] || ok=0; fi
    done
    [ "$ok" = 1 ] && return 0
  fi
  local work
  work="$(mktemp -d "$LIB_DIR/.work.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  download "$pkg" "$sha" "$work/pkg.tgz"
  tar --no-same-owner -xzf "$work/pkg.tgz" -C "$work" "$@"
  local m
  for m in "$@"; do
    if [ -d "$work/$m" ]; then
      mkdir -p "$LIB_DIR/include"
      cp "$work/$m"/*.h "$LIB_DIR/include/"
    else
      chmod 0755 "$work/$m"
      mv -f "$work/$m" "$LIB_DIR/$(basename "$m")"
    fi
  done
  rm -rf "$work"
  trap - EXIT
  echo "$pkg@$VERSION $sha" > "$stamp"
  echo "fetch.sh: $pkg@$VERSION installed into $LIB_DIR"
}

install_package "$CPU_PACKAGE" "$CPU_SHA256" cpu \
  "$PLUGIN_DIR/libonnxruntime.so" "$PLUGIN_DIR/libonnxruntime_providers_shared.so" "$HEADER"

if [ "$want_gpu" = "1" ]; then
  install_package "$GPU_PACKAGE" "$GPU_SHA256" gpu "$PLUGIN_DIR/libonnxruntime_providers_cuda.so"
fi
