// app.js: the ken web UI: ask (answer streamed over server-sent events,
// citations that open the cited span highlighted in its document), search,
// documents (drag-and-drop upload, list, delete) and status. Talks to
// /api/v1 only; all text goes through textContent (never innerHTML).
'use strict';
const $ = (id) => document.getElementById(id);
const keyInput = $('key');
keyInput.value = localStorage.getItem('ken.key') || '';
keyInput.addEventListener('change', () => localStorage.setItem('ken.key', keyInput.value.trim()));

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const k = keyInput.value.trim();
  if (k) h.Authorization = 'Bearer ' + k;
  return h;
}
async function api(path, opts) {
  opts = opts || {};
  const r = await fetch('/api/v1' + path, Object.assign({}, opts, { headers: headers(opts.headers) }));
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + r.status));
  return body;
}
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function showError(node, err) { node.replaceChildren(el('span', String(err.message || err), 'error')); }

// ---- tabs (arrow keys move between them)
const tabs = [...document.querySelectorAll('nav [role=tab]')];
function select(name) {
  for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.tab === name));
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== 'tab-' + name;
  if (name === 'docs') loadDocs();
  if (name === 'status') loadStatus();
}
tabs.forEach((t, i) => {
  t.addEventListener('click', () => select(t.dataset.tab));
  t.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const n = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
    n.focus(); select(n.dataset.tab);
  });
});

// ---- document viewer: the cited byte span [start, end) highlighted
async function openSpan(docId, start, end) {
  const d = await api('/documents/' + encodeURIComponent(docId) + '?text=1');
  const bytes = new TextEncoder().encode(d.text);
  const dec = new TextDecoder();
  const pre = $('viewer-text');
  const mark = el('mark', dec.decode(bytes.slice(start, end)));
  mark.id = 'cited';
  pre.replaceChildren(dec.decode(bytes.slice(0, start)), mark, dec.decode(bytes.slice(end)));
  $('viewer-title').textContent = d.title || d.uri;
  $('viewer').hidden = false;
  mark.scrollIntoView({ block: 'center' });
  $('viewer-close').focus();
}
$('viewer-close').addEventListener('click', () => { $('viewer').hidden = true; });
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') $('viewer').hidden = true; });

function citationItem(c) {
  const li = el('li');
  const a = el('a', c.title || c.uri, 'cite');
  a.href = '#';
  a.dataset.doc = c.doc_id;
  a.addEventListener('click', (e) => { e.preventDefault(); openSpan(c.doc_id, c.start, c.end).catch(alert); });
  li.append('[' + c.n + '] ', a, el('div', c.sentence, 'meta'));
  return li;
}

// ---- ask: fetch + a stream reader over the SSE body
$('ask-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = $('answer'), cites = $('citations');
  out.textContent = ''; cites.replaceChildren();
  out.dataset.state = 'streaming';
  try {
    const r = await fetch('/api/v1/ask', { method: 'POST',
      headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ question: $('question').value, stream: true }) });
    if (!r.ok) { const b = await r.json().catch(() => ({})); throw new Error((b.error && b.error.message) || r.status); }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!line.startsWith('data: ')) continue;
        const ev = JSON.parse(line.slice(6));
        if (ev.type === 'delta') out.textContent += ev.text;
        else if (ev.type === 'done') { out.textContent = ev.answer; ev.citations.forEach((c) => cites.append(citationItem(c))); }
        else if (ev.type === 'error') throw new Error(ev.error.message);
      }
    }
    out.dataset.state = 'done';
  } catch (err) { showError(out, err); out.dataset.state = 'error'; }
});

// ---- search
$('search-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const list = $('results'), mode = $('mode').value;
  try {
    const d = await api('/search', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: $('query').value, mode: mode === 'docs' ? 'docs' : 'chunks', prf: mode === 'prf', k: 20 }) });
    list.replaceChildren(...d.results.map((r) => {
      const li = el('li');
      const a = el('a', r.title || r.uri, 'cite');
      a.href = '#';
      a.addEventListener('click', (ev) => { ev.preventDefault(); openSpan(r.doc_id, r.start, r.end).catch(alert); });
      li.append(a, el('div', (r.heading ? r.heading + ' — ' : '') + 'score ' + r.score.toFixed(2), 'meta'),
                el('div', (r.snippet || '').replace(/\*\*/g, '')));
      return li;
    }));
    if (!d.results.length) list.replaceChildren(el('li', 'Nothing found.'));
  } catch (err) { showError(list, err); }
});

// ---- documents
async function loadDocs() {
  const body = document.querySelector('#doc-table tbody');
  try {
    const d = await api('/documents?limit=1000');
    body.replaceChildren(...d.documents.map((x) => {
      const tr = el('tr');
      const del = el('button', 'delete');
      del.setAttribute('aria-label', 'delete ' + x.uri);
      del.addEventListener('click', async () => {
        if (!confirm('Delete ' + x.uri + '?')) return;
        try { await api('/documents/' + x.id, { method: 'DELETE' }); loadDocs(); } catch (err) { alert(err.message); }
      });
      const td = el('td'); td.append(del);
      tr.append(el('td', String(x.id)), el('td', x.title ? x.title + ' (' + x.uri + ')' : x.uri),
                el('td', x.collection), el('td', String(x.chunks)), td);
      return tr;
    }));
  } catch (err) { showError($('upload-status'), err); }
}
async function upload(files) {
  const status = $('upload-status'), prog = $('upload-progress');
  prog.hidden = false; prog.max = files.length; prog.value = 0;
  const lines = [];
  for (const f of files) {
    const fd = new FormData();
    fd.append('file', f, f.name);
    try {
      const r = await api('/documents', { method: 'POST', body: fd });
      lines.push(f.name + ': ' + (r.added ? 'added' : r.updated ? 'updated' : 'unchanged') + ', ' + r.chunks + ' chunks');
    } catch (err) { lines.push(f.name + ': ' + err.message); }
    prog.value += 1;
    status.textContent = lines.join('\n');
  }
  prog.hidden = true;
  loadDocs();
}
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); upload([...e.dataTransfer.files]); });
drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') $('files').click(); });
$('files').addEventListener('change', (e) => upload([...e.target.files]));

// ---- status
async function loadStatus() {
  const dl = $('stats');
  try {
    const [s, ready] = await Promise.all([api('/stats'), fetch('/readyz').then((r) => r.json())]);
    const rows = [['ready', ready.status]].concat(Object.entries(s).map(([k, v]) => [k, v === null ? '—' : String(v)]));
    dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
  } catch (err) { showError(dl, err); }
}
