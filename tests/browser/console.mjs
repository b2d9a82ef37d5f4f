// The s3gate web console in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core; nothing downloads a browser), driven by tests/e2e/console.rs.
//
// Input: S3GATE_BROWSER_CONFIG, JSON {console, expiringConsole, expiringRoot, root: [ak, sk], reader: [ak, sk],
// bucket, bigFile, download, screenshots, otherPort}.
// Output: one line `RESULT <json>` with what the browser saw; exit status 0 when every step ran.
// The Rust side checks the stored objects, the downloaded file and the share link.
// Waits are locator waits: the console's Content-Security-Policy forbids the eval that
// page.waitForFunction needs.

import { chromium } from 'playwright-core';
import http from 'node:http';

const cfg = JSON.parse(process.env.S3GATE_BROWSER_CONFIG);
const shot = (page, name) => page.screenshot({ path: `${cfg.screenshots}/${name}.png`, fullPage: true });
const result = {};

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
let code = 1;
let other;
try {
  const login = async (page, base, [ak, sk]) => {
    await page.goto(`${base}/`);
    await page.getByLabel('Access key id').fill(ak);
    await page.getByLabel('Secret access key').fill(sk);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/`);
  };
  const status = (page) => page.locator('#status').textContent();

  // ---- root: log in, browse ----
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 760 } });
  const page = await ctx.newPage();
  page.on('dialog', (d) => d.accept());
  await page.goto(`${cfg.console}/`);
  await shot(page, 'login');
  await login(page, cfg.console, cfg.root);
  // Create a bucket with the form, then delete it.
  await page.getByLabel('New bucket').fill('made-in-browser');
  await page.getByRole('button', { name: 'Create bucket' }).click();
  await page.waitForURL(`${cfg.console}/b/made-in-browser`);
  await page.getByRole('button', { name: 'Delete bucket' }).click();
  await page.waitForURL(`${cfg.console}/`);
  result.createdAndDeletedBucket = !(await page.content()).includes('made-in-browser');
  await shot(page, 'buckets');
  await page.getByRole('link', { name: cfg.bucket }).click();
  await page.waitForURL(`${cfg.console}/b/${cfg.bucket}`);
  result.sawFolders = (await page.getByRole('link', { name: '2024/' }).count()) === 1
    && (await page.getByRole('link', { name: 'notes.txt', exact: true }).count()) === 1;
  await shot(page, 'bucket');
  await page.getByRole('link', { name: '2025/' }).click();
  await page.waitForURL(/prefix=2025/);

  // ---- upload: 20 MiB, multipart; the first attempt loses part 2, the second resumes ----
  let parts = { first: new Set(), resumed: [] };
  let phase = 'first';
  page.on('request', (r) => {
    const m = r.url().match(/partNumber=(\d+)/);
    if (m && r.method() === 'PUT') (phase === 'first' ? parts.first.add(+m[1]) : parts.resumed.push(+m[1]));
  });
  const part2 = /partNumber=2&/;
  await page.route(part2, (route) => route.abort('connectionreset'));
  await page.setInputFiles('#files', cfg.bigFile);
  await page.locator('#status', { hasText: 'failed' }).waitFor({ timeout: 60000 });
  result.firstAttemptStatus = await status(page);
  result.firstAttemptParts = [...parts.first].filter((n) => n === 1).length;
  await page.unroute(part2);
  phase = 'resumed';
  const progressBefore = await page.evaluate(() => window.s3gateProgress.length);
  await page.setInputFiles('#files', []);
  await page.setInputFiles('#files', cfg.bigFile);
  await page.locator('#status', { hasText: 'Upload complete.' }).waitFor({ timeout: 60000 });
  const progress = await page.evaluate(() => window.s3gateProgress);
  result.progressSteps = new Set(progress.slice(progressBefore).filter((p) => p > 0 && p < 100)).size;
  result.resumedPart1Puts = parts.resumed.filter((n) => n === 1).length;
  result.resumedParts = parts.resumed;
  await shot(page, 'upload');
  await page.reload();
  await page.getByRole('link', { name: 'big.bin', exact: true }).waitFor();

  // A file dropped on the drop zone.
  const dt = await page.evaluateHandle(() => {
    const d = new DataTransfer();
    d.items.add(new File(['dropped in'], 'dropped.txt', { type: 'text/plain' }));
    return d;
  });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  await page.locator('#status', { hasText: 'Upload complete.' }).waitFor({ timeout: 30000 });
  await page.reload();
  await page.getByRole('link', { name: 'dropped.txt', exact: true }).waitFor();

  // ---- object details, download, share ----
  await page.getByRole('link', { name: 'big.bin', exact: true }).click();
  await page.waitForURL(/\/o\/photos\/2025\/big\.bin/);
  await shot(page, 'object');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  await download.saveAs(cfg.download);
  await page.getByLabel('Share link valid for').selectOption('3600');
  await page.getByRole('button', { name: 'Create link' }).click();
  await page.locator('#share-url:not([hidden])').waitFor();
  result.shareUrl = await page.locator('#share-url').inputValue();
  await shot(page, 'share');

  // ---- root's pages: settings, users and policies, dashboard ----
  await page.goto(`${cfg.console}/settings/${cfg.bucket}`);
  await page.getByRole('button', { name: 'Enable versioning' }).click();
  await page.waitForSelector('text=Suspend versioning');
  await shot(page, 'settings');
  await page.goto(`${cfg.console}/iam`);
  await page.getByLabel('New user').fill('carol');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.locator('#status', { hasText: 'secret' }).waitFor();
  result.createdUserMessage = (await status(page)).startsWith('Created.');
  await page.reload();
  await shot(page, 'iam');
  await page.goto(`${cfg.console}/dashboard`);
  await shot(page, 'dashboard');

  // ---- delete ----
  await page.goto(`${cfg.console}/b/${cfg.bucket}`);
  await page.getByRole('button', { name: 'Delete notes.txt' }).click();
  await page.locator('#status', { hasText: 'Deleted' }).waitFor();

  // ---- CSRF: no token from this page; a form from another origin ----
  result.noTokenDelete = await page.evaluate(async (b) =>
    (await fetch(`/s3/${b}/2024/beach.jpg`, { method: 'DELETE' })).status, cfg.bucket);
  other = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<!doctype html><form id="f" method="post" action="${cfg.console}/logout"></form>
      <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((r) => other.listen(cfg.otherPort, '127.0.0.1', r));
  const forged = await page.goto(`http://127.0.0.1:${cfg.otherPort}/`);
  await page.waitForURL(`${cfg.console}/logout`);
  result.crossOriginRefused = (await page.content()).includes('CsrfRefused');
  await page.goto(`${cfg.console}/`);
  result.stillLoggedIn = (await page.getByRole('button', { name: 'Log out' }).count()) === 1;
  void forged;

  // ---- phone width ----
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${cfg.console}/b/${cfg.bucket}?prefix=2025%2F`);
  await shot(page, 'phone');

  // ---- a read-only user ----
  const rctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const rpage = await rctx.newPage();
  await login(rpage, cfg.console, cfg.reader);
  await rpage.goto(`${cfg.console}/b/${cfg.bucket}?prefix=2024%2F`);
  result.readerDeleteButtons = await rpage.locator('[data-delete]').count();
  result.readerSawDrop = (await rpage.locator('#drop').count()) > 0;
  result.readerForcedDelete = await rpage.evaluate(async (b) => {
    const csrf = document.querySelector('meta[name="csrf"]').content;
    return (await fetch(`/s3/${b}/2024/city.jpg`, { method: 'DELETE', headers: { 'x-s3gate-csrf': csrf } })).status;
  }, cfg.bucket);
  await shot(rpage, 'readonly');

  // ---- a session that expired (idle limit 2 s on the second gateway) ----
  const ectx = await browser.newContext({ viewport: { width: 1100, height: 600 } });
  const epage = await ectx.newPage();
  await login(epage, cfg.expiringConsole, cfg.expiringRoot);
  await epage.waitForTimeout(2500);
  await epage.goto(`${cfg.expiringConsole}/`);
  result.expiredShown = (await epage.locator('.notice').textContent()).includes('expired');
  await shot(epage, 'expired');

  console.log('RESULT ' + JSON.stringify(result));
  code = 0;
} catch (e) {
  console.error('console browser test failed:', e, JSON.stringify(result));
} finally {
  if (other) other.close();
  await browser.close();
}
process.exit(code);
