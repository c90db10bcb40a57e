#!/usr/bin/env bash
# pattern_rag.sh: runs patterns/02-rag/example.sh (the RAG pattern's runnable
# example) against the built ken and checks what it shows: cited answers with
# sources, "nothing found" for an unanswerable question, and a citation read
# back verbatim from the stored text (the example itself asserts that).
set -euo pipefail
: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$(KEN_BIN="$KEN_BIN" bash "$KEN_SRC/patterns/02-rag/example.sh" 2>&1) ||
    fail "example.sh exited $?: $out"
has() { grep -qF -- "$1" <<<"$out" || fail "expected '$1' in the example's output:"$'\n'"$out"; }
has "added 3"
has "Turn the heap every two weeks to let oxygen in. ["
has "Sources:"
has "Bicycle maintenance"
has "means the starter is hungry"
has "No relevant passage was found for this question."
has "= the cited sentence, verbatim"
echo "pattern_rag: ok"
