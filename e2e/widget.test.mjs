// The embeddable widget in chromium, on a customer's page of another
// origin: it chats from an origin in the agent's allowed_origins, and
// fails, visibly, from one that is not (CORS decides).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, launch } from './lib.mjs';

const allowedURL = env('HYPONEMA_WIDGET_ALLOWED_URL');
const deniedURL = env('HYPONEMA_WIDGET_DENIED_URL');
const firstMessage = env('HYPONEMA_FIRST_MESSAGE');

let browser;

before(async () => {
  browser = await launch({ viewport: { width: 1024, height: 768 } });
});

after(async () => {
  await browser?.close();
});

test('works from an allowed origin', async () => {
  const page = await browser.context.newPage();
  await page.goto(allowedURL);
  const launcher = page.getByRole('button', { name: 'Open chat' });
  await launcher.waitFor();
  // The page's custom properties reach into the shadow root.
  const bg = await page.locator('hyponema-widget .hy-launcher').evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(bg, 'rgb(0, 102, 51)');

  await launcher.click();
  const panel = page.getByRole('dialog', { name: 'Support' });
  await panel.getByText(firstMessage).waitFor();
  const input = panel.getByLabel('Your message');
  await page.waitForFunction(() => document.querySelector('hyponema-widget').shadowRoot.activeElement?.matches('textarea'));
  await input.fill('Do you ship to Lisbon?');
  await page.keyboard.press('Enter');
  await panel.locator('.hy-msg--assistant', { hasText: 'Happy to help with: Do you ship to Lisbon?' }).waitFor();
  assert.equal(await panel.locator('.hy-error').count(), 0);

  // Escape closes the panel and gives the focus back to the launcher.
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  assert.ok(await page.evaluate(() => document.querySelector('hyponema-widget').shadowRoot.activeElement?.matches('.hy-launcher')));
  // Nothing of the widget leaks into the page's own DOM but its host.
  assert.equal(await page.locator('body > *:not(h1, p, script, hyponema-widget)').count(), 0);
  await page.close();
});

test('fails visibly from an origin that is not allowed', async () => {
  const page = await browser.context.newPage();
  const console = [];
  page.on('console', (m) => console.push(m.text()));
  await page.goto(deniedURL);
  await page.getByRole('button', { name: 'Open chat' }).click();
  const panel = page.getByRole('dialog', { name: 'Support' });
  await panel.locator('.hy-error', { hasText: 'Could not reach the chat service' }).waitFor();
  assert.equal(await panel.getByText(firstMessage).count(), 0);
  assert.ok(console.some((t) => /CORS/.test(t)), `the browser did not blame CORS: ${console.join('\n')}`);
  await page.close();
  assert.deepEqual(browser.errors, []);
});
