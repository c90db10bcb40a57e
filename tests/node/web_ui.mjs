// web_ui.mjs: drives the ken web UI in headless Chromium (playwright-core,
// Debian's /usr/bin/chromium): drop a file on the documents page, see it
// listed, ask a question, watch the answer stream in, open a citation (the
// cited span is highlighted in its document), save a screenshot.
// Env: KEN_URL, KEN_KEY, KEN_SHOT (screenshot path), KEN_USER_DIR (empty folder).
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

// A persistent context is how playwright takes a fresh, empty --user-data-dir.
const browser = await chromium.launchPersistentContext(process.env.KEN_USER_DIR, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 900, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = browser.pages()[0] || await browser.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(process.env.KEN_URL)) external.push(r.url()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(process.env.KEN_URL + '/');
  await page.fill('#key', process.env.KEN_KEY);
  await page.dispatchEvent('#key', 'change');

  // Documents: a real drop event carrying a File.
  await page.click('nav [data-tab=docs]');
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['# Lighthouses\n\nThe Pharos of Alexandria guided ships into the harbour '
                           + 'with a fire that burned on its top at night.\n'], 'lighthouse.md',
                          { type: 'text/markdown' }));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt,
                                                                         bubbles: true, cancelable: true }));
  });
  await page.waitForSelector('#doc-table tbody td:has-text("lighthouse.md")', { timeout: 20000 });
  assert.match(await page.textContent('#upload-status'), /lighthouse\.md: added/);

  // Ask: the answer streams in (several updates) and ends with citations.
  await page.click('nav [data-tab=ask]');
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver((recs) => { window.__updates += recs.length; }).observe(document.getElementById('answer'),
                                                        { childList: true, characterData: true, subtree: true });
  });
  await page.fill('#question', 'What guided ships into the harbour of Alexandria?');
  await page.press('#question', 'Enter');
  await page.waitForSelector('#answer[data-state=done]', { timeout: 20000 });
  const answer = await page.textContent('#answer');
  assert.match(answer, /Pharos/);
  assert.ok(await page.evaluate(() => window.__updates) >= 3, 'the answer did not stream');
  assert.ok(await page.locator('#citations li').count() >= 1, 'no citations');

  // Open the first citation: the document with the cited sentence highlighted.
  await page.click('#citations a.cite >> nth=0');
  await page.waitForSelector('#viewer:not([hidden]) mark#cited', { timeout: 20000 });
  assert.match(await page.textContent('mark#cited'), /Pharos of Alexandria guided ships/);
  await page.screenshot({ path: process.env.KEN_SHOT, fullPage: true });

  // Status page renders the counts.
  await page.keyboard.press('Escape');
  await page.click('nav [data-tab=status]');
  await page.waitForSelector('#stats dt:has-text("documents")', { timeout: 20000 });

  assert.deepEqual(errors, [], 'page errors');
  assert.deepEqual(external, [], 'external requests');
  console.log(`web ui: ok (answer: ${answer.slice(0, 60)}...)`);
} finally {
  await browser.close();
}
