#!/usr/bin/env python3
"""tokenizer_eval.py: compares FTS5 tokenizers for BM25 retrieval on a BEIR
collection, with FTS5's own bm25() (k1 1.2, b 0.75) over title + text, the
same trec_eval metric definitions as ken (src/improve/improve.h).

usage: tokenizer_eval.py DIR   (DIR holds corpus.jsonl, queries.jsonl, qrels.tsv)
Queries are OR-ed quoted terms (letters and digits), as ken builds them."""
import json, math, re, sqlite3, sys
from collections import defaultdict

STOP = set("a about after all also am an and any are as at be because been before being between "
           "both but by can could did do does doing during each few for from had has have having "
           "he her here hers him his how i if in into is it its itself just me more most my no nor "
           "not of off on once only or other our ours out over own same she should so some such "
           "than that the their theirs them then there these they this those through to too under "
           "until up very was we were what when where which while who whom why will with would "
           "you your yours".split())

def main():
    d = sys.argv[1]
    docs = [json.loads(l) for l in open(d + "/corpus.jsonl")]
    queries = [json.loads(l) for l in open(d + "/queries.jsonl")]
    qrels = defaultdict(dict)
    for i, l in enumerate(open(d + "/qrels.tsv")):
        if i:
            q, doc, g = l.split("\t")
            qrels[q][doc] = int(g)
    for tok in ("unicode61 remove_diacritics 2", "porter unicode61 remove_diacritics 2",
                "trigram"):
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE t USING fts5(id UNINDEXED, title, text, tokenize=%r)" % tok)
        db.executemany("INSERT INTO t VALUES (?, ?, ?)",
                       [(x["_id"], x.get("title", ""), x["text"]) for x in docs])
        m = defaultdict(float)
        n = 0
        for q in queries:
            j = qrels.get(q["_id"])
            if not j:
                continue
            n += 1
            terms = [t for t in re.findall(r"\w+", q["text"].lower()) if t not in STOP]
            terms = [t for t in terms if len(t) >= 3] if tok == "trigram" else terms
            if not terms:
                continue
            expr = " OR ".join('"%s"' % t for t in dict.fromkeys(terms))
            r = [x[0] for x in db.execute("SELECT id FROM t WHERE t MATCH ? ORDER BY bm25(t)"
                                          " LIMIT 100", (expr,))]
            nrel = sum(1 for g in j.values() if g > 0)
            dcg = sum(j.get(x, 0) / math.log2(i + 2) for i, x in enumerate(r[:10]) if j.get(x, 0) > 0)
            ideal = sorted(j.values(), reverse=True)[:10]
            idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal) if g > 0)
            m["ndcg@10"] += dcg / idcg if idcg else 0
            m["recall@100"] += sum(1 for x in r if j.get(x, 0) > 0) / nrel if nrel else 0
            m["mrr@10"] += next((1 / (i + 1) for i, x in enumerate(r[:10]) if j.get(x, 0) > 0), 0)
        print("%-40s queries %d  nDCG@10 %.4f  Recall@100 %.4f  MRR@10 %.4f" %
              (tok, n, m["ndcg@10"] / n, m["recall@100"] / n, m["mrr@10"] / n))

main()
