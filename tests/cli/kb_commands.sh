#!/usr/bin/env bash
# kb_commands.sh: the knowledge-base commands end to end. Where the store is
# (./.ken/ken.db created on the first add, $KEN_DB, --db first), --help on
# every command, the counts of add / sync / rm (text and --json) through
# add, re-add, change, stdin, sync and removal, rm and show by a relative
# path, --json on every read command (one JSON document, stable fields),
# exit codes 0 / 1 / 2 / 3, and the progress bar on a terminal only.
set -euo pipefail
: "${KEN_BIN:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset KEN_DB
cd "$tmp"
ken() { "$KEN_BIN" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
# json FILE EXPR: evaluates a Python expression over the parsed JSON (d).
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
counts() { json "$1" '",".join(str(d[k]) for k in ("added","updated","unchanged","skipped","removed"))'; }
expect_rc() {   # expect_rc WANT CMD...
  local want=$1 rc=0
  shift
  "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$tmp/out" "$tmp/err"; fail "'$*' exited $rc, not $want"; }
}

mkdir -p notes/sub
printf 'Owls hunt at night. They have silent feathers.\n' > notes/owls.txt
printf '# Herons\n\nHerons stand still in shallow water.\n' > notes/herons.md
printf 'Wrens are small and loud.\n' > notes/sub/wrens.txt

# --help on every command; usage errors exit 1.
for c in add sync rm ls show stats; do
  expect_rc 0 ken "$c" --help
  grep -q "^usage: ken $c" "$tmp/out" || fail "$c --help prints no usage"
done
expect_rc 1 ken ls --bogus
expect_rc 1 ken add
expect_rc 1 ken add --overlap 999999 notes
grep -q -- "--overlap" "$tmp/err" || fail "a bad --overlap is not explained"
expect_rc 1 ken sync
expect_rc 1 ken rm
expect_rc 1 ken frobnicate

# No store yet: read commands exit 2 and create nothing.
expect_rc 2 ken ls
grep -q "no knowledge base" "$tmp/err" || fail "ls without a store: $(cat "$tmp/err")"
[ ! -e .ken ] || fail "a read command created .ken"

# The first add creates ./.ken/ken.db.
expect_rc 0 ken add --json notes
[ -f .ken/ken.db ] || fail "the first add did not create ./.ken/ken.db"
[ "$(counts "$tmp/out")" = "3,0,0,0,0" ] || fail "first add: $(cat "$tmp/out")"
expect_rc 0 ken add notes
grep -q "^added 0, updated 0, unchanged 3, skipped 0, removed 0 " "$tmp/out" || fail "re-add: $(cat "$tmp/out")"
printf 'Owls hunt at night. They have silent feathers and sharp ears.\n' > notes/owls.txt
expect_rc 0 ken add --json notes
[ "$(counts "$tmp/out")" = "0,1,2,0,0" ] || fail "changed file: $(cat "$tmp/out")"
printf 'A memo about crows.\n' | ken add --json --name memo.md - > "$tmp/out"
[ "$(counts "$tmp/out")" = "1,0,0,0,0" ] || fail "stdin: $(cat "$tmp/out")"

# Read commands with --json: one JSON document each, stable field names.
expect_rc 0 ken ls --json
[ "$(json "$tmp/out" 'len(d["documents"])')" = 4 ] || fail "ls --json: $(cat "$tmp/out")"
for k in id uri collection mime title chunks; do
  [ "$(json "$tmp/out" "all('$k' in x for x in d['documents'])")" = True ] || fail "ls --json lacks $k"
done
expect_rc 0 ken show --json stdin:memo.md
[ "$(json "$tmp/out" 'd["document"]["uri"]')" = "stdin:memo.md" ] || fail "show stdin doc"
cid=$(json "$tmp/out" 'd["chunks"][0]["id"]')
expect_rc 0 ken show --json "chunk:$cid"
[ "$(json "$tmp/out" 'd["text"]')" = "A memo about crows." ] || fail "show chunk: $(cat "$tmp/out")"
for k in start end heading page tokens; do
  [ "$(json "$tmp/out" "'$k' in d")" = True ] || fail "show chunk lacks $k"
done
expect_rc 0 ken stats --json
[ "$(json "$tmp/out" 'd["documents"], d["schema_version"] > 0')" = "4 True" ] || fail "stats --json: $(cat "$tmp/out")"
# show and rm take the path a file was added by, relative or not.
expect_rc 0 ken show --json notes/herons.md
[ "$(json "$tmp/out" 'd["document"]["title"]')" = Herons ] || fail "show by relative path"
expect_rc 0 ken show ./notes/sub/wrens.txt
expect_rc 2 ken show notes/missing.txt
expect_rc 2 ken show 99999
expect_rc 2 ken show chunk:99999

# sync: a new file, a changed one, a vanished one, the rest unchanged.
printf 'Kestrels hover.\n' > notes/kestrels.txt
printf 'Wrens are small, brown and loud.\n' > notes/sub/wrens.txt
rm notes/herons.md
expect_rc 0 ken sync --json notes
[ "$(counts "$tmp/out")" = "1,1,1,0,1" ] || fail "sync: $(cat "$tmp/out")"
expect_rc 0 ken sync notes
grep -q "^added 0, updated 0, unchanged 3, skipped 0, removed 0 " "$tmp/out" || fail "sync again: $(cat "$tmp/out")"

# rm by relative path, by id, by folder; a missing one exits 2.
expect_rc 0 ken rm --json notes/kestrels.txt
[ "$(json "$tmp/out" 'd["removed"]')" = 1 ] || fail "rm by relative path: $(cat "$tmp/out")"
expect_rc 2 ken rm notes/kestrels.txt
grep -q "no document" "$tmp/err" || fail "rm of a missing document: $(cat "$tmp/err")"
expect_rc 0 ken rm notes/
grep -q "^removed 2" "$tmp/out" || fail "rm folder: $(cat "$tmp/out")"
expect_rc 0 ken ls --json
[ "$(json "$tmp/out" '[x["uri"] for x in d["documents"]]')" = "['stdin:memo.md']" ] || fail "after rm: $(cat "$tmp/out")"

# $KEN_DB, and --db before it.
KEN_DB="$tmp/env.db" ken add -q notes/owls.txt
[ -f "$tmp/env.db" ] || fail "\$KEN_DB was not used"
KEN_DB="$tmp/env.db" ken add -q --help >/dev/null
KEN_DB="$tmp/env.db" "$KEN_BIN" --db "$tmp/flag.db" add -q notes/sub/wrens.txt
[ -f "$tmp/flag.db" ] || fail "--db was not used"
[ "$(KEN_DB="$tmp/env.db" ken stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["documents"])')" = 1 ] ||
  fail "--db wrote into \$KEN_DB's store"

# Exit 3: an internal error (a store whose index table is gone).
if command -v sqlite3 > /dev/null; then
  sqlite3 "$tmp/env.db" "DROP TABLE chunks_fts;"
  expect_rc 3 env KEN_DB="$tmp/env.db" "$KEN_BIN" add notes/sub/wrens.txt
fi

# The progress bar: never when stderr is not a terminal; on a terminal
# (script(1) gives the command a pty), files, MB, MB/s.
ken --db "$tmp/p.db" add notes > /dev/null 2> "$tmp/err"
! grep -q "MB/s" "$tmp/err" || fail "progress written to a non-terminal"
if command -v script > /dev/null; then
  printf 'More text.\n' > notes/more.txt
  script -qec "$KEN_BIN --db $tmp/p.db add notes" /dev/null > "$tmp/tty" < /dev/null
  grep -q "files [0-9]*/[0-9]*  [0-9.]*/[0-9.]* MB  [0-9.]* MB/s" "$tmp/tty" ||
    fail "no progress bar on a terminal: $(cat -A "$tmp/tty")"
fi
echo ok
