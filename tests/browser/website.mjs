// A static website served by s3gate (--website-domain web.test), browsed by headless
// Chromium (Debian's /usr/bin/chromium through playwright-core; nothing downloads a browser),
// driven by tests/e2e/browser.rs. The browser resolves *.web.test to 127.0.0.1 itself
// (--host-resolver-rules), so the Host it sends is the website's. It opens the home page,
// follows a link to a folder written without its slash (S3's 302 to the folder's index),
// opens a missing page (the error document, status 404) and a moved page (the object's
// x-amz-website-redirect-location), taking a screenshot of each.
//
// Input: S3GATE_BROWSER_CONFIG, JSON {site: "http://site.web.test:PORT", screenshots: DIR}.
// Output: one line `RESULT <json>`; exit status 0 when every page was visited.

import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.env.S3GATE_BROWSER_CONFIG);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--host-resolver-rules=MAP *.web.test 127.0.0.1'],
});
let code = 1;
try {
  const page = await browser.newPage();
  const result = {};
  const visit = async (name, go) => {
    const response = await go();
    result[name] = {
      status: response ? response.status() : null,
      url: page.url(),
      title: await page.title(),
      heading: await page.locator('h1').first().textContent().catch(() => null),
    };
    await page.screenshot({ path: `${cfg.screenshots}/${name}.png`, fullPage: true });
  };
  await visit('home', () => page.goto(`${cfg.site}/`));
  await visit('folder', async () => {
    const [response] = await Promise.all([
      page.waitForNavigation({ timeout: 30000 }),
      page.click('#docs'),
    ]);
    return response;
  });
  await visit('missing', () => page.goto(`${cfg.site}/nope.html`));
  await visit('moved', () => page.goto(`${cfg.site}/moved.html`));
  console.log('RESULT ' + JSON.stringify(result));
  code = 0;
} catch (e) {
  console.error('website browser test failed:', e);
} finally {
  await browser.close();
}
process.exit(code);
