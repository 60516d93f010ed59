#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build symx: libclang (bindgen, for
# librocksdb-sys) and a C++ compiler (RocksDB itself). Idempotent: does nothing when present.
set -euo pipefail

missing=()
# bindgen looks for libclang.so; Debian's libclang-dev provides it.
if ! ldconfig -p 2>/dev/null | grep -q 'libclang.*\.so' && ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
  missing+=(libclang-dev)
fi
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
