// load.mjs: a small load client for `ken serve`: GET /api/v1/search (BM25)
// from C concurrent keep-alive clients for a fixed time per level; one line
// per level with throughput, p50/p99 latency and the failed requests.
// usage: node load.mjs URL KEY QUERIES_FILE SECONDS C1,C2,...
import http from 'node:http';
import fs from 'node:fs';

const [url, key, qfile, secs, levels] = process.argv.slice(2);
const queries = fs.readFileSync(qfile, 'utf8').split('\n').filter(Boolean);
const base = new URL(url);

function one(agent, q) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: base.hostname, port: base.port, agent,
      path: '/api/v1/search?k=10&q=' + encodeURIComponent(q),
      headers: { Authorization: 'Bearer ' + key } }, (res) => {
      let n = 0;
      res.on('data', (d) => { n += d.length; });
      res.on('end', () => resolve({ ok: res.statusCode === 200 && n > 0,
                                   ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', () => resolve({ ok: false, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    req.end();
  });
}

let qi = 0;
for (const c of levels.split(',').map(Number)) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: c });
  const lat = [];
  let errors = 0;
  const end = Date.now() + Number(secs) * 1000;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: c }, async () => {
    while (Date.now() < end) {
      const r = await one(agent, queries[qi++ % queries.length]);
      lat.push(r.ms);
      if (!r.ok) errors++;
    }
  }));
  const wall = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2);
  console.log(`concurrency=${c} requests=${lat.length} rps=${(lat.length / wall).toFixed(0)} ` +
              `p50_ms=${pct(0.5)} p99_ms=${pct(0.99)} errors=${errors}`);
  agent.destroy();
}
