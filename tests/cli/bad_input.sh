#!/usr/bin/env bash
# bad_input.sh: a batch of malformed inputs next to good ones. Each bad one
# gets a clear message naming it, the good ones are ingested, nothing crashes
# (the sanitizer build turns any memory error or leak into a failure), and
# the exit status is 2 (bad input) rather than a crash or 3.
set -euo pipefail
: "${KEN_BIN:?}"
tmp=$(mktemp -d)
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
db="$tmp/kb.db"
d="$tmp/in"
mkdir -p "$d"
ken() { "$KEN_BIN" --db "$db" "$@"; }

# Good inputs.
printf 'A good plain text file about owls.\n' > "$d/good.txt"
printf '# Good\n\nMarkdown about herons.\n' > "$d/good.md"

# Bad inputs.
: > "$d/empty.txt"                                            # 0 bytes
head -c 4096 /dev/urandom > "$d/random.bin.txt"               # binary named .txt
printf '\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0' > "$d/elf.txt"
printf '%%PDF-1.4\n1 0 obj\n<< /Type /Catalog' > "$d/truncated.pdf" # truncated PDF
head -c 2000 /dev/urandom | sed 's/^/%PDF-1.7 /' > "$d/corrupt.pdf"
printf 'caf\xe9 cr\xe8me \xff\xfe broken utf-8\n' > "$d/latin1.txt"   # not UTF-8: read as Latin-1
printf 'K\xc3\xb6ln, caf\xc3\xa9 \xff and a cut \xe2\x82' > "$d/damaged.txt"     # UTF-8 with invalid bytes
{ printf '{"_id":"a","title":"A","text":"first good line"}\n'
  printf '{"_id":"b","text": broken json}\n'
  printf '{"_id":"c","title":"C","text":"third good line"}\n'
  printf 'not json at all\n'
  printf '{"_id":"e","text":"fifth good line"}\n'; } > "$d/mixed.jsonl"
# Deeply nested HTML and JSON.
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "<div>"; printf "deep text"; for (i = 0; i < 100000; i++) printf "</div>" }' > "$d/deep.html"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]" }' > "$d/deep.json"
# A 50 MB single line without a newline (spaces every 10 bytes) and one
# with no space at all (5 MB).
awk 'BEGIN { s = "wordword9 "; for (i = 0; i < 5242880; i++) printf "%s", s }' > "$d/longline.txt"
head -c 5000000 /dev/zero | tr '\0' 'x' > "$d/nospace.txt"
ln -s "$d/does-not-exist.txt" "$d/dangling.txt"               # dangling symlink
if [ "$(id -u)" -ne 0 ]; then
  printf 'secret\n' > "$d/unreadable.txt"; chmod 000 "$d/unreadable.txt"
else
  # root reads any file; /proc/1/mem fails with EIO on read even for root.
  ln -s /proc/1/mem "$d/unreadable.txt"
fi
printf 'x' | gzip -c | head -c 10 > "$d/truncated.txt.gz"     # truncated gzip

set +e
ken add "$d" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
cat "$tmp/out"; cat "$tmp/err"
[ "$rc" -eq 2 ] || { echo "expected exit 2, got $rc"; exit 1; }
for f in empty.txt random.bin.txt elf.txt truncated.pdf corrupt.pdf dangling.txt unreadable.txt truncated.txt.gz deep.json; do
  grep -q "$f" "$tmp/err" || { echo "no message naming $f"; exit 1; }
done
grep -q "damaged.txt: invalid UTF-8: 3 byte(s) replaced by U+FFFD" "$tmp/err" ||
  { echo "no message for the invalid UTF-8 in damaged.txt"; exit 1; }
grep -q "line 2" "$tmp/err" || { echo "broken JSONL line 2 not reported"; exit 1; }
grep -q "line 4" "$tmp/err" || { echo "broken JSONL line 4 not reported"; exit 1; }

ken ls --json > "$tmp/ls.json"
for want in good.txt good.md latin1.txt damaged.txt deep.html longline.txt nospace.txt; do
  grep -q "$want" "$tmp/ls.json" || { echo "$want was not ingested"; exit 1; }
done
for id in '"ext_id":"a"' '"ext_id":"c"' '"ext_id":"e"'; do
  grep -q "$id" "$tmp/ls.json" || { echo "JSONL document $id missing"; exit 1; }
done
if grep -q '"ext_id":"b"' "$tmp/ls.json"; then echo "broken line ingested"; exit 1; fi
# Latin-1 was converted to UTF-8.
ken show --json --text "$(cd "$d" && pwd -P)/latin1.txt" | grep -q 'café crème' || { echo "latin1 not converted"; exit 1; }
# Damaged UTF-8 stayed UTF-8 (not read as Latin-1), invalid bytes as U+FFFD.
ken show --json --text "$(cd "$d" && pwd -P)/damaged.txt" | grep -q 'Köln, café � and a cut ��' ||
  { echo "damaged UTF-8 not repaired"; exit 1; }
# The long line was split into bounded chunks.
chunks=$(ken show --json "$(cd "$d" && pwd -P)/longline.txt" | grep -o '"ordinal"' | wc -l)
[ "$chunks" -gt 100 ] || { echo "50 MB line gave only $chunks chunks"; exit 1; }

# A file without read permission. As root the batch above cannot show it
# (root reads any file: /proc/1/mem stood in for it), so when setpriv(1) is
# there the same case runs again as the unprivileged user nobody.
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
  chmod 755 "$tmp"
  u="$tmp/asuser"
  mkdir -p "$u/in"
  printf 'A readable file about larks.\n' > "$u/in/ok.txt"
  printf 'secret\n' > "$u/in/locked.txt"
  chmod 000 "$u/in/locked.txt"
  chown -R nobody "$u"
  set +e
  (cd "$u" && setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
     "$KEN_BIN" --db "$u/kb.db" add "$u/in") > "$tmp/out3" 2> "$tmp/err3"
  rc=$?
  set -e
  cat "$tmp/out3" "$tmp/err3"
  [ "$rc" -eq 2 ] || { echo "unreadable file as nobody: exit $rc, not 2"; exit 1; }
  grep -q "locked.txt: .*Permission denied" "$tmp/err3" || { echo "no message naming locked.txt"; exit 1; }
  grep -q "^added 1, .* skipped 1," "$tmp/out3" || { echo "the readable file was not added"; exit 1; }
else
  echo "note: the unreadable-file case ran as $(id -un) with /proc/1/mem or chmod 000 only"
fi

# Usage errors exit 1; missing things exit 2.
set +e
ken add > /dev/null 2>&1; [ $? -eq 1 ] || { echo "add without paths should exit 1"; exit 1; }
ken show 999999 > /dev/null 2>&1; [ $? -eq 2 ] || { echo "show of a missing doc should exit 2"; exit 1; }
ken frobnicate > /dev/null 2>&1; [ $? -eq 1 ] || { echo "unknown command should exit 1"; exit 1; }
"$KEN_BIN" --db "$tmp/none.db" ls > /dev/null 2>&1; [ $? -eq 2 ] || { echo "ls on a missing store should exit 2"; exit 1; }
printf 'garbage that is not sqlite at all, repeated.%.0s' $(seq 200) > "$tmp/notdb.db"
"$KEN_BIN" --db "$tmp/notdb.db" ls > /dev/null 2> "$tmp/err2"; rc=$?
set -e
[ "$rc" -eq 2 ] || [ "$rc" -eq 3 ] || { echo "a non-store file: exit $rc"; exit 1; }
grep -q "ken:" "$tmp/err2" || { echo "no message for a non-store file"; exit 1; }
echo ok
