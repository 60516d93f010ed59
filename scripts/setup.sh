#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build symx: libclang (bindgen, for
# librocksdb-sys) and a C++ compiler (RocksDB itself); and, for the datadog-ci check
# (tests/datadog-ci/run.sh), llvm-14 (llvm-dwarfdump/llvm-lipo stand in for Xcode's tools),
# unzip, git and Node.js with npm; curl for the Elastic examples (tests/elastic/run.sh); gcc,
# clang, binutils (addr2line, readelf, objcopy), python3, a Java runtime, ProGuard and Commons
# Lang for the conformance suite (tests/conformance/run.sh); gdb and elfutils' debuginfod-find
# (package debuginfod) for the symbol server's tests (tests/e2e/symbols.rs); Chromium for the
# console's browser tests (tests/console/run.sh, driven by playwright-core from npm).
# Idempotent: does nothing when present.
set -euo pipefail

missing=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if command -v dpkg-query >/dev/null 2>&1; then
  # libclang-cpp (on the machine by default) is not the libclang bindgen loads.
  for pkg in libclang-dev clang g++ make binutils python3 llvm-14 unzip git curl \
    default-jre-headless proguard-cli libcommons-lang3-java gdb debuginfod chromium; do
    installed "$pkg" || missing+=("$pkg")
  done
  # Node may come from outside Debian (the machine image); only install it when absent.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
else
  ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9.]+)?\.so' || missing+=(libclang-dev)
  command -v clang >/dev/null 2>&1 || missing+=(clang)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
fi

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
