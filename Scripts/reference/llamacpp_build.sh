#!/usr/bin/env bash
# Builds llama.cpp (ggml CPU backend + libllama + common + the named tools) from the llama-cpp-python 0.3.36 sdist in
# .assets/downloads (Scripts/fetch-assets gets it) into $WORK/build (binaries in $WORK/build/bin), Release, with the
# CPU features of the build machine (GGML_NATIVE). A tool already built is kept; only the missing ones are built.
#
# Cost: well over 10 minutes on two shared cores. `JOBS=2 NICE=15` keeps it out of the way of other work.
#
# Usage: Scripts/reference/llamacpp_build.sh [TARGET...]   (default: llama-completion llama-bench)
#   WORK  environment: the build root (default /tmp/tailor-llamacpp)
#   JOBS  environment: parallel compile jobs (default: all cores)
#   NICE  environment: niceness added to the compile (default 0)
# Sourced (`. llamacpp_build.sh`), it only defines `llamacpp_build WORK SDIST TARGET...`.

# llamacpp_build WORK SDIST TARGET...: extracts SDIST under WORK once, then configures and builds the TARGETs that
# $WORK/build/bin lacks.
llamacpp_build() {
    local work="$1" sdist="$2"
    shift 2
    local src="$work/llama_cpp_python-0.3.36/vendor/llama.cpp"
    local missing=() target
    for target in "$@"; do
        [ -x "$work/build/bin/$target" ] || missing+=("$target")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    [ -f "$sdist" ] || { echo "missing $sdist: run Scripts/fetch-assets" >&2; return 1; }
    mkdir -p "$work"
    if [ ! -d "$src" ]; then tar -xzf "$sdist" -C "$work"; fi
    cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON
    nice -n "${NICE:-0}" cmake --build "$work/build" --target "${missing[@]}" -j "${JOBS:-$(nproc)}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    root="$(cd "$(dirname "$0")/../.." && pwd)"
    [ "$#" -gt 0 ] || set -- llama-completion llama-bench
    llamacpp_build "${WORK:-/tmp/tailor-llamacpp}" "$root/.assets/downloads/llama_cpp_python-0.3.36.tar.gz" "$@"
    echo "built: $(for t in "$@"; do printf '%s ' "${WORK:-/tmp/tailor-llamacpp}/build/bin/$t"; done)"
fi
