#!/usr/bin/env bash
# kill_ingest.sh: SIGKILL `ken add` in the middle of a large ingest that
# replaces every document, at several points, and check after each kill that
# the store opens, passes integrity checks, and holds every document whole
# in its old or its new version (never a mix, no orphan chunks, FTS in
# sync); then that re-running the ingest completes it.
set -euo pipefail
: "${KEN_BIN:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/kb.db"
corpus="$tmp/corpus"
N=${KILL_TEST_FILES:-1500}
mkdir -p "$corpus"

# Version V of file i: a Markdown page whose every paragraph carries the
# marker "markerV"; version 2 has more sections, so its chunking differs.
make_corpus() {
  awk -v n="$N" -v v="$1" -v dir="$corpus" 'BEGIN {
    for (i = 0; i < n; i++) {
      f = sprintf("%s/doc%05d.md", dir, i)
      printf "# Document %d version %d\n\n", i, v > f
      for (s = 0; s < 3 + v * 2; s++) {
        printf "## Section %d\n\n", s > f
        for (p = 0; p < 3; p++) {
          printf "Paragraph %d of section %d in document %d carries marker%d. ", p, s, i, v > f
          printf "The quick brown fox number %d jumps over the lazy dog marker%d.\n\n", i * 7 + s, v > f
        }
      }
      close(f)
    }
  }'
}

ken() { "$KEN_BIN" --db "$db" "$@"; }
sql() { sqlite3 -batch -bail "$db" "$@"; }

check_store() {
  local ic
  ic=$(sql "PRAGMA integrity_check;")
  [ "$ic" = ok ] || { echo "integrity_check: $ic"; exit 1; }
  sql "PRAGMA foreign_key_check;" | { ! grep -q .; } || { echo "foreign key violations"; exit 1; }
  sql "INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1);"
  local orphans mixed badcount badspan neither
  orphans=$(sql "SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents);")
  mixed=$(sql "SELECT count(*) FROM documents WHERE instr(text,'marker1') > 0 AND instr(text,'marker2') > 0;")
  neither=$(sql "SELECT count(*) FROM documents WHERE instr(text,'marker1') = 0 AND instr(text,'marker2') = 0;")
  badcount=$(sql "SELECT count(*) FROM documents d WHERE n_chunks != (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id);")
  # The chunks of a document cover its text up to its end (but for trailing
  # white space): spans of an old version would not fit a new text.
  badspan=$(sql "SELECT count(*) FROM (SELECT d.text AS t, (SELECT max(end_byte) FROM chunks c WHERE c.doc_id = d.id) AS m FROM documents d)
                 WHERE m IS NULL OR m > length(CAST(t AS BLOB))
                    OR trim(CAST(substr(CAST(t AS BLOB), m + 1) AS TEXT), char(10, 32, 9)) != '';")
  # Every chunk's text (through the FTS content view) carries exactly the
  # document's marker.
  local chunkmix
  chunkmix=$(sql "SELECT count(*) FROM chunks_content cc JOIN chunks c ON c.id = cc.id JOIN documents d ON d.id = c.doc_id
                  WHERE (instr(d.text,'marker2') > 0 AND instr(cc.text,'marker1') > 0)
                     OR (instr(d.text,'marker1') > 0 AND instr(cc.text,'marker2') > 0);")
  if [ "$orphans" != 0 ] || [ "$mixed" != 0 ] || [ "$neither" != 0 ] || [ "$badcount" != 0 ] ||
     [ "$badspan" != 0 ] || [ "$chunkmix" != 0 ]; then
    echo "inconsistent store: orphans=$orphans mixed=$mixed neither=$neither badcount=$badcount badspan=$badspan chunkmix=$chunkmix"
    exit 1
  fi
  local docs
  docs=$(sql "SELECT count(*) FROM documents;")
  [ "$docs" = "$N" ] || { echo "expected $N documents, found $docs"; exit 1; }
}

make_corpus 1
ken add -q "$corpus"
check_store
echo "version 1 ingested: $N documents"

make_corpus 2
v2count() { sql "SELECT count(*) FROM documents WHERE instr(text,'marker2') > 0;"; }
# Kill points: early (0.1 s, during the walk or the first batch), then four
# times shortly after the run has committed a new batch (so the kill lands
# inside the next transaction), at different offsets. Each run resumes from
# what the previous ones committed. Progress-based, not time-based, so it
# holds on a slow or busy machine.
partial=0
for k in 1 2 3 4 5; do
  base=$(v2count)
  # Small transactions, so that even a fast machine is killed mid-way.
  "$KEN_BIN" --db "$db" add -q --batch-files 20 "$corpus" >/dev/null 2>&1 &
  pid=$!
  if [ "$k" -eq 1 ]; then
    sleep 0.1
  else
    for _ in $(seq 6000); do
      [ "$(v2count)" -gt "$base" ] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
    sleep "0.0$k"
  fi
  if kill -9 "$pid" 2>/dev/null; then killed=yes; else killed=no; fi
  wait "$pid" 2>/dev/null || true
  check_store
  v2=$(v2count)
  echo "kill point $k (killed: $killed): $v2 of $N documents at version 2"
  if [ "$killed" = yes ] && [ "$v2" -gt 0 ] && [ "$v2" -lt "$N" ]; then partial=$((partial + 1)); fi
done
[ "$partial" -ge 3 ] || { echo "no kill landed in the middle of the ingest"; exit 1; }

ken add -q "$corpus"
check_store
v2=$(sql "SELECT count(*) FROM documents WHERE instr(text,'marker2') > 0;")
[ "$v2" = "$N" ] || { echo "re-run did not complete: $v2 of $N"; exit 1; }
out=$(ken add --json "$corpus")
echo "$out" | grep -q "\"unchanged\":$N" || { echo "third run not all unchanged: $out"; exit 1; }
echo "ok: $partial kills landed mid-ingest; the re-run completed"
