#!/usr/bin/env bash
# pattern_small_models.sh: runs patterns/03-small-models/example.sh (pattern 3:
# small model first, big model when needed) against the built ken, with the
# fixtures' stories260K as the small model and the scripted stand-in as the
# larger one, and checks what it shows: the small model's answer reported
# ungrounded, the escalation with its reason, the larger model's grounded
# answer, "I don't know" with no model asked, the routing as JSON.
set -euo pipefail
: "${KEN_BIN:?KEN_BIN must point at the ken binary}"
: "${KEN_SRC:?KEN_SRC must point at the source tree}"
: "${KEN_FIXTURES:?KEN_FIXTURES must point at the fixtures}"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -f "$KEN_FIXTURES/models/stories260K.gguf" ] || fail "stories260K.gguf missing in $KEN_FIXTURES"
out=$(unset LARGE_URL SMALL_MODEL; KEN_BIN="$KEN_BIN" KEN_FIXTURES="$KEN_FIXTURES" \
      bash "$KEN_SRC/patterns/03-small-models/example.sh" 2>&1) ||
    fail "example.sh exited $?: $out"
has() { grep -qF -- "$1" <<<"$out" || fail "expected '$1' in the example's output:"$'\n'"$out"; }
has "added 3"
has "Check: UNGROUNDED: the answer cites no source it was given"
has "route: llama (local): escalate: ungrounded"
has "Turn the heap every two weeks to let oxygen in [1]."
has "Check: grounded; 1 valid citation(s), support 1.00"
has "Answered by stand-in-large (http) after escalation: ungrounded"
has "I don't know: no relevant passage was found"
has "answered by stand-in-large, grounded=True, citations=[(1, 'sourdough.md')]"
# The unanswerable question asked no model: no route line between its header
# and the next one.
sed -n "/nothing relevant/,/decisions as JSON/p" <<<"$out" | grep -q "route:" &&
    fail "a model was asked for an unanswerable question"
echo "pattern_small_models: ok"
