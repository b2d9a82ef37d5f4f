// A browser upload against a running s3gate, driven by tests/e2e/browser.rs: a page served
// from another origin (this script's own HTTP server on 127.0.0.1) holds a presigned POST
// form; headless Chromium (Debian's /usr/bin/chromium through playwright-core; nothing
// downloads a browser) picks a file and submits it; S3 redirects back to the page
// (success_action_redirect), which then reads the object back with a CORS fetch of a
// presigned GET URL, writes a second object with a CORS PUT (its preflight allowed), and
// makes a request whose preflight the bucket's CORS rule refuses. The page shows what
// happened; a screenshot of it is saved.
//
// Input: S3GATE_BROWSER_CONFIG, JSON {action, fields: [[name, value]...], fileName,
// fileText, getUrl, putUrl, deleteUrl, screenshot, pagePort}. Output: one line
// `RESULT <json>` with what the page saw; exit status 0 when the page ran to its end.

import http from 'node:http';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.env.S3GATE_BROWSER_CONFIG);

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function formPage() {
  const hidden = cfg.fields
    .map(([n, v]) => `<input type="hidden" name="${esc(n)}" value="${esc(v)}">`)
    .join('\n      ');
  return `<!doctype html><html><head><meta charset="utf-8"><title>upload</title></head>
  <body><h1>Upload to s3gate</h1>
    <form id="f" method="post" action="${esc(cfg.action)}" enctype="multipart/form-data">
      ${hidden}
      <input type="file" name="file" id="file">
      <input type="submit" id="go" value="Upload">
    </form></body></html>`;
}

function donePage() {
  return `<!doctype html><html><head><meta charset="utf-8"><title>done</title>
  <style>body{font:16px sans-serif;margin:2em} td{padding:4px 12px;border:1px solid #999}
  .ok{background:#cfc} .bad{background:#fcc}</style></head>
  <body><h1>s3gate browser upload</h1><table id="t"></table>
  <script>
  (async () => {
    const q = new URLSearchParams(location.search);
    const out = { redirectKey: q.get('key'), redirectBucket: q.get('bucket'), redirectEtag: q.get('etag') };
    try {
      const r = await fetch(${JSON.stringify(cfg.getUrl)}, { mode: 'cors' });
      out.getStatus = r.status;
      out.getText = await r.text();
      out.getEtag = r.headers.get('etag');
    } catch (e) { out.getError = String(e); }
    try {
      const r = await fetch(${JSON.stringify(cfg.putUrl)}, { method: 'PUT', mode: 'cors', body: 'put by fetch' });
      out.putStatus = r.status;
    } catch (e) { out.putError = String(e); }
    try {
      const r = await fetch(${JSON.stringify(cfg.deleteUrl)}, { method: 'DELETE', mode: 'cors' });
      out.deleteStatus = r.status;
    } catch (e) { out.deleteError = String(e); }
    const rows = [
      ['uploaded key (from the redirect)', out.redirectKey, !!out.redirectKey],
      ['CORS GET', out.getStatus + ' ' + (out.getText ?? out.getError), out.getStatus === 200],
      ['ETag exposed', out.getEtag, !!out.getEtag],
      ['CORS PUT (preflight allowed)', out.putStatus ?? out.putError, out.putStatus === 200],
      ['DELETE (preflight refused)', out.deleteError ?? out.deleteStatus, !!out.deleteError],
    ];
    document.getElementById('t').innerHTML = rows.map(([k, v, ok]) =>
      '<tr class="' + (ok ? 'ok' : 'bad') + '"><td>' + k + '</td><td>' + String(v).replace(/</g, '&lt;') + '</td></tr>').join('');
    window.__result = out;
  })();
  </script></body></html>`;
}

const server = http.createServer((req, res) => {
  const body = req.url.startsWith('/done') ? donePage() : formPage();
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(body);
});
await new Promise((ok) => server.listen(cfg.pagePort, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox'],
});
let code = 1;
try {
  const page = await browser.newPage();
  const console_ = [];
  page.on('console', (m) => console_.push(m.text()));
  await page.goto(`${origin}/`);
  await page.setInputFiles('#file', {
    name: cfg.fileName,
    mimeType: 'text/plain',
    buffer: Buffer.from(cfg.fileText),
  });
  await Promise.all([page.waitForURL(/\/done/, { timeout: 30000 }), page.click('#go')]);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30000 });
  const result = await page.evaluate(() => window.__result);
  result.pageOrigin = origin;
  result.console = console_;
  await page.screenshot({ path: cfg.screenshot, fullPage: true });
  console.log('RESULT ' + JSON.stringify(result));
  code = 0;
} catch (e) {
  console.error('browser test failed:', e);
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
