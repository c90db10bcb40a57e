#!/usr/bin/env python3
"""make_manpages.py: builds a known-item retrieval test collection in BEIR
format from the section-1 man pages installed on this machine (Debian's
/usr/share/man/man1): each page's NAME line description is a query ("list
directory contents"), the page without its NAME section is the document that
answers it (pages sharing a description are all relevant, grade 1).

usage: make_manpages.py OUTDIR [--max N] [--mandir DIR]
Deterministic for a given set of installed pages: files are taken in sorted
order, every k-th one so that at most N (default 4000) remain. The roff source
is reduced to plain text (requests dropped, font and character escapes
removed), which is what matters for lexical retrieval."""
import gzip, json, os, re, sys

def roff_text(src):
    out = []
    for line in src.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if line.startswith(('.', "'")):
            m = re.match(r"[.'](SH|SS|TP|IP|B|I|BR|BI|IR|RB|RI|IB|Nm|Nd|Sh|Ss|It|Fl|Ar|Op|Xr|Pa)\s+(.*)", line)
            if not m:
                continue
            line = m.group(2)
        line = re.sub(r'\\f(\[[^\]]*\]|\(..|.)', '', line)
        line = re.sub(r'\\\(..|\\\[[^\]]*\]|\\[*n]\(..|\\[*n].', ' ', line)
        line = line.replace('\\-', '-').replace('\\&', '').replace('\\e', '\\')
        line = re.sub(r'\\.', ' ', line).replace('"', ' ')
        out.append(line.strip())
    return '\n'.join(l for l in out if l)

def split_name(src):
    """(description, source without the NAME section) or None."""
    m = re.search(r'^\.S[Hh]\s+"?NAME"?\s*$(.*?)(?=^\.S[Hh]\s)', src, re.M | re.S)
    if not m:
        return None
    name = roff_text(m.group(1))
    name = re.sub(r'\s+', ' ', name)
    d = re.split(r'\s+-+\s+', name, maxsplit=1)
    if len(d) != 2 or len(d[1].split()) < 3:
        return None
    return d[1].strip().rstrip('.'), src[:m.start()] + src[m.end():]

def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out, mx, mandir = args[0], 4000, '/usr/share/man/man1'
    if '--max' in args: mx = int(args[args.index('--max') + 1])
    if '--mandir' in args: mandir = args[args.index('--mandir') + 1]
    files = sorted(f for f in os.listdir(mandir) if f.endswith('.gz')
                   and not os.path.islink(os.path.join(mandir, f)))
    step = max(1, len(files) // mx)
    os.makedirs(out, exist_ok=True)
    queries, docs = {}, 0
    with open(os.path.join(out, 'corpus.jsonl'), 'w') as cf:
        for f in files[::step][:mx]:
            try:
                src = gzip.open(os.path.join(mandir, f)).read().decode('utf-8', 'replace')
            except (OSError, EOFError):
                continue
            if src.startswith('.so '):
                continue
            r = split_name(src)
            if not r:
                continue
            desc, body = r
            text = roff_text(body)
            if len(text.split()) < 20:
                continue
            pid = f[:-3]
            cf.write(json.dumps({"_id": pid, "title": "", "text": text}) + "\n")
            queries.setdefault(desc.lower(), (desc, []))[1].append(pid)
            docs += 1
    with open(os.path.join(out, 'queries.jsonl'), 'w') as qf, \
         open(os.path.join(out, 'qrels.tsv'), 'w') as rf:
        rf.write("query-id\tcorpus-id\tscore\n")
        for i, (desc, pids) in enumerate(sorted(queries.values())):
            qf.write(json.dumps({"_id": "m%d" % i, "text": desc}) + "\n")
            for p in pids:
                rf.write("m%d\t%s\t1\n" % (i, p))
    print("%d documents, %d queries in %s" % (docs, len(queries), out))

main()
