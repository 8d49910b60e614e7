#!/usr/bin/env bash
# Checks a Tailor GGUF LoRA adapter with an independent program: llama.cpp's `llama-completion --lora`.
#
# Builds llama.cpp from the llama-cpp-python 0.3.36 sdist in .assets/downloads (Scripts/fetch-assets gets it) with
# cmake into $WORK (default /tmp/tailor-llamacpp), exports RUN's adapter with `tailor export RUN --to gguf-lora`, and
# compares greedy continuations of a raw prompt:
#   llama.cpp: base GGUF + adapter.gguf     vs   Tailor: `tailor generate --raw --adapter RUN --temperature 0`
# and, to calibrate, the same two without the adapter. The base is dequantized to Float32 in Tailor but multiplied
# in its quantized form by llama.cpp (Q4_1 × Q8_1), so long continuations may part even for the base; a shared prefix
# of the base runs tells how many tokens to expect. An adapter written wrongly (alpha, q/k permutation, shapes) shows
# up as a much shorter shared prefix with the adapter than without, or as llama.cpp refusing to load it.
# Writes only under $WORK; prints both texts and the length of their common prefix.
#
# Cost: the llama.cpp build (ggml CPU backend + libllama + common + llama-completion, by llamacpp_build.sh next to
# this script) takes well over 10 minutes on two shared cores; run it on a quiet machine. Later runs reuse $WORK/build.
#
# Usage: Scripts/reference/llamacpp_check.sh RUN [PROMPT] [TOKENS]
#   RUN     a run folder from `tailor train` whose base model is a GGUF (config.json "modelPath")
#   TAILOR  environment: the tailor binary (default .build/release/tailor)
#   MERGED=1 also exports the merged GGUF (tailor export RUN --to gguf) and runs it in llama.cpp without --lora
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
run="${1:?usage: llamacpp_check.sh RUN [PROMPT] [TOKENS]}"
prompt="${2:-The capital of France is}"
tokens="${3:-24}"
tailor="${TAILOR:-$root/.build/release/tailor}"
work="${WORK:-/tmp/tailor-llamacpp}"
sdist="$root/.assets/downloads/llama_cpp_python-0.3.36.tar.gz"

[ -f "$sdist" ] || { echo "missing $sdist: run Scripts/fetch-assets" >&2; exit 1; }
base="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["modelPath"])' "$run/config.json")"
case "$base" in *.gguf) ;; *) echo "the run's base ($base) is not a GGUF; llama.cpp needs one" >&2; exit 1 ;; esac

# shellcheck source=Scripts/reference/llamacpp_build.sh
. "$root/Scripts/reference/llamacpp_build.sh"
llamacpp_build "$work" "$sdist" llama-completion
bin="$work/build/bin/llama-completion"

adapter="$work/adapter.gguf"
"$tailor" export "$run" --to gguf-lora --output "$adapter"

# llama.cpp: greedy, raw text completion (no conversation mode), prompt not echoed.
llama() {
    "$bin" -m "$base" "$@" -p "$prompt" -n "$tokens" --temp 0 --top-k 1 -no-cnv --no-display-prompt \
        --seed 1 -t 2 2>/dev/null | sed -e 's/ \[end of text\]$//' -e '/^$/d'
}
# Tailor: greedy, raw prompt (no chat template).
tailor_text() {
    "$tailor" generate --model "$base" "$@" --raw --prompt "$prompt" --max-tokens "$tokens" --temperature 0 \
        --threads 2 2>/dev/null
}
common_prefix() { python3 -c 'import os,sys; a,b=sys.argv[1],sys.argv[2]; print(len(os.path.commonprefix([a,b])), "of", max(len(a),len(b)), "characters")' "$1" "$2"; }

echo "== base"
l_base="$(llama)"; t_base="$(tailor_text)"
printf 'llama.cpp: %s\ntailor:    %s\n' "$l_base" "$t_base"
echo "shared prefix: $(common_prefix "$l_base" "$t_base")"

echo "== base + adapter"
l_tuned="$(llama --lora "$adapter")"; t_tuned="$(tailor_text --adapter "$run")"
printf 'llama.cpp: %s\ntailor:    %s\n' "$l_tuned" "$t_tuned"
echo "shared prefix: $(common_prefix "$l_tuned" "$t_tuned")"
if [ -n "${MERGED:-}" ]; then
    echo "== merged GGUF (tailor export RUN --to gguf), no --lora"
    "$tailor" export "$run" --to gguf --output "$work/merged.gguf" >/dev/null
    l_merged="$("$bin" -m "$work/merged.gguf" -p "$prompt" -n "$tokens" --temp 0 --top-k 1 -no-cnv --no-display-prompt \
        --seed 1 -t 2 2>/dev/null | sed -e 's/ \[end of text\]$//' -e '/^$/d')"
    printf 'llama.cpp: %s\ntailor:    %s\n' "$l_merged" "$t_tuned"
    echo "shared prefix: $(common_prefix "$l_merged" "$t_tuned")"
fi
[ "$l_tuned" != "$l_base" ] || echo "warning: the adapter did not change llama.cpp's output; train longer or use a stronger adapter"
