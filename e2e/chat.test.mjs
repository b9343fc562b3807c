// The hosted chat page in chromium, on a phone-sized window: it opens from
// a client_url, streams a reply, survives a dropped connection mid-reply
// without losing or repeating text, ends the session, and says plainly
// when its link is dead.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { contrast, env, launch, startProxy, via } from './lib.mjs';

const api = env('HYPONEMA_URL');
const key = env('HYPONEMA_API_KEY');
const clientURL = env('HYPONEMA_CLIENT_URL');
const firstMessage = env('HYPONEMA_FIRST_MESSAGE');
const slowReply = env('HYPONEMA_SLOW_REPLY');
const screenshot = env('HYPONEMA_SCREENSHOT');
const sessionId = new URL(clientURL).pathname.split('/').pop();

let browser;
let proxy;
let page;
const requests = [];
const console = [];

before(async () => {
  proxy = await startProxy(api);
  browser = await launch({ viewport: { width: 375, height: 667 } });
  page = await browser.context.newPage();
  page.on('request', (r) => requests.push({ method: r.method(), url: r.url(), headers: r.headers() }));
  page.on('console', (m) => console.push(m.text()));
});

after(async () => {
  await browser?.close();
  await proxy?.close();
});

const log = () => page.getByRole('log');
const input = () => page.getByLabel('Your message');
const assistant = () => page.locator('.hy-msg--assistant');

test('opens from the client_url and shows the first message', async () => {
  await page.goto(via(proxy, clientURL));
  await log().getByText(firstMessage).waitFor();
  // The token left the address bar; the input has the focus.
  assert.ok(!page.url().includes('token='), page.url());
  await page.waitForFunction(() => document.activeElement?.matches('textarea'));
  assert.equal(await log().getAttribute('aria-live'), 'polite');
  // Every API call carried the token as a bearer credential.
  const calls = requests.filter((r) => r.url.includes('/sessions/'));
  assert.ok(calls.length >= 2);
  for (const c of calls) assert.match(c.headers.authorization, /^Bearer hct_/);
});

test('Shift+Enter makes a new line, Enter sends', async () => {
  await input().click();
  await page.keyboard.type('line one');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('line two');
  assert.equal(await input().inputValue(), 'line one\nline two');
  assert.equal(await page.locator('.hy-msg--user').count(), 0);
  await input().fill('');
});

test('streams the reply, and resumes it after the connection drops', async () => {
  await input().fill('Where is my order?');
  await page.keyboard.press('Enter');
  await page.locator('.hy-msg--user', { hasText: 'Where is my order?' }).waitFor();
  const reply = assistant().nth(1);

  // Watch the reply grow; cut every connection once some of it has come.
  const seen = [];
  let cutAt = '';
  const deadline = Date.now() + 30000;
  for (;;) {
    assert.ok(Date.now() < deadline, `the reply did not complete: ${JSON.stringify(seen.slice(-3))}`);
    const state = await page.evaluate(() => {
      const el = document.querySelectorAll('.hy-msg--assistant')[1];
      return el ? { text: el.querySelector('.hy-text').textContent, streaming: el.classList.contains('hy-msg--streaming') } : null;
    });
    if (state) {
      if (seen[seen.length - 1] !== state.text) seen.push(state.text);
      assert.ok(slowReply.startsWith(state.text), `shown text is not a prefix of the reply:\n${state.text}`);
      if (!cutAt && state.text.split(' ').length >= 6) {
        cutAt = state.text;
        await browser.context.setOffline(true);
        const n = proxy.cut();
        assert.ok(n >= 1, 'no connection to cut');
        await page.locator('.hy-status', { hasText: 'Reconnecting' }).waitFor({ timeout: 5000 });
        await page.waitForTimeout(1000);
        await browser.context.setOffline(false);
      }
      if (!state.streaming && state.text === slowReply) break;
    }
    await page.waitForTimeout(40);
  }
  assert.ok(cutAt, 'never cut the connection');
  assert.ok(cutAt.length < slowReply.length, 'cut after the reply had finished');
  assert.ok(seen.length >= 4, `the reply did not appear incrementally: ${seen.length} states`);
  assert.equal(await reply.locator('.hy-text').textContent(), slowReply);
  assert.equal(await page.locator('.hy-status').textContent(), '');

  // It came back through the session's events, after the last id seen.
  const resumed = requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/sessions/${sessionId}/events`));
  assert.ok(resumed.length >= 1, 'no reconnect to /events');
  assert.match(resumed[resumed.length - 1].headers['last-event-id'] || '', /^\d+$/);
  // Nothing is shown twice.
  assert.equal(await page.locator('.hy-msg--user').count(), 1);
  assert.equal(await assistant().count(), 2);
  await page.screenshot({ path: screenshot });
});

test('a reload shows the same conversation, once', async () => {
  await page.reload();
  await log().getByText(slowReply).waitFor();
  const texts = await page.locator('.hy-msg .hy-text').allTextContents();
  assert.deepEqual(texts, [firstMessage, 'Where is my order?', slowReply]);
});

test('a reload mid-reply picks the reply up and finishes it', async () => {
  await input().fill('And my other order?');
  await page.keyboard.press('Enter');
  const third = () => page.evaluate(() => {
    const el = document.querySelectorAll('.hy-msg--assistant')[2];
    return el ? { text: el.querySelector('.hy-text').textContent, streaming: el.classList.contains('hy-msg--streaming') } : null;
  });
  await page.waitForFunction(() => (document.querySelectorAll('.hy-msg--assistant')[2]?.textContent || '').split(' ').length >= 6);
  await page.reload();
  const deadline = Date.now() + 20000;
  let resumed = false;
  for (let s = await third(); !s || s.streaming || s.text !== slowReply; s = await third()) {
    assert.ok(Date.now() < deadline, `the reply did not complete after the reload: ${JSON.stringify(s)}`);
    if (s) {
      assert.ok(slowReply.startsWith(s.text), `shown text is not a prefix of the reply:\n${s.text}`);
      resumed ||= s.streaming;
    }
    await page.waitForTimeout(40);
  }
  assert.ok(resumed, 'the reply was already complete when the page came back');
  const texts = await page.locator('.hy-msg .hy-text').allTextContents();
  assert.deepEqual(texts, [firstMessage, 'Where is my order?', slowReply, 'And my other order?', slowReply]);
});

test('an error in the reply is shown as a readable line', async () => {
  await input().fill('please fail');
  await page.keyboard.press('Enter');
  await page.locator('.hy-error', { hasText: 'could not answer just now' }).waitFor();
  // The chat goes on.
  await page.waitForFunction(() => !document.querySelector('.hy-send').disabled);
  assert.equal(await input().isDisabled(), false);
});

test('readable on a phone: contrast, focus ring, no sideways scrolling', async () => {
  const m = await page.evaluate(() => {
    const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
    document.querySelector('.hy-input').focus();
    return {
      user: [css('.hy-msg--user', 'color'), css('.hy-msg--user', 'backgroundColor')],
      agent: [css('.hy-msg--assistant', 'color'), css('.hy-msg--assistant', 'backgroundColor')],
      hint: [css('.hy-hint', 'color'), css('.hy-chat', 'backgroundColor')],
      error: [css('.hy-error', 'color'), css('.hy-error', 'backgroundColor')],
      send: [css('.hy-send', 'color'), css('.hy-send', 'backgroundColor')],
      outline: css('.hy-input', 'outlineStyle'),
      scrollWidth: document.scrollingElement.scrollWidth,
      composerBottom: document.querySelector('.hy-composer').getBoundingClientRect().bottom,
    };
  });
  for (const k of ['user', 'agent', 'hint', 'error', 'send']) {
    assert.ok(contrast(...m[k]) >= 4.5, `${k}: contrast ${contrast(...m[k]).toFixed(2)} of ${m[k]}`);
  }
  assert.equal(m.outline, 'solid', 'no visible focus style on the input');
  assert.ok(m.scrollWidth <= 375, `the page scrolls sideways: ${m.scrollWidth}`);
  assert.ok(m.composerBottom <= 667, `the composer is off screen: ${m.composerBottom}`);
});

test('tool calls and their results are shown readably', async () => {
  const tools = await browser.context.newPage();
  const toolsURL = env('HYPONEMA_TOOLS_CLIENT_URL');
  const ev = (id, event, data) => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  // The agent has no tools yet: the server's answer is scripted here.
  await tools.route('**/sessions/*/messages', (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    return route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      body:
        ev(100, 'message.created', { id: 'msg_t1', role: 'user', text: 'Where is order 1001?' }) +
        ev(101, 'tool.call', { call_id: 'call_1', tool: 'lookup_order', arguments: { order: '1001' } }) +
        ev(102, 'tool.result', { call_id: 'call_1', tool: 'lookup_order', ok: true, output: { status: 'shipped' }, duration_ms: 12 }) +
        ev(103, 'tool.call', { call_id: 'call_2', tool: 'notify-courier', arguments: {} }) +
        ev(104, 'tool.result', { call_id: 'call_2', tool: 'notify-courier', ok: false, error: 'the courier API timed out', duration_ms: 5000 }) +
        ev(105, 'message.delta', { message_id: 'msg_t2', delta: 'Order 1001 ' }) +
        ev(106, 'message.delta', { message_id: 'msg_t2', delta: 'has shipped.' }) +
        ev(107, 'message.completed', { id: 'msg_t2', role: 'assistant', text: 'Order 1001 has shipped.', status: 'complete' }) +
        ev(108, 'done', {}),
    });
  });
  await tools.goto(via(proxy, toolsURL));
  await tools.getByRole('log').getByText(firstMessage).waitFor();
  await tools.getByLabel('Your message').fill('Where is order 1001?');
  await tools.keyboard.press('Enter');
  await tools.getByText('Order 1001 has shipped.').waitFor();
  assert.deepEqual(await tools.locator('.hy-tool').allTextContents(), ['Used lookup order.', 'notify courier failed: the courier API timed out']);
  assert.deepEqual(await tools.locator('.hy-msg .hy-text').allTextContents(), [firstMessage, 'Where is order 1001?', 'Order 1001 has shipped.']);
  await tools.close();
});

test('End conversation ends the session and says so', async () => {
  await page.getByRole('button', { name: 'End conversation' }).click();
  const notice = page.locator('.hy-notice', { hasText: 'This conversation has ended.' });
  await notice.waitFor();
  assert.equal(await input().isDisabled(), true);
  assert.equal(await page.getByRole('button', { name: 'End conversation' }).isDisabled(), true);
  assert.ok(await notice.evaluate((el) => document.activeElement === el), 'focus did not move to the notice');
  const res = await fetch(`${api}/sessions/${sessionId}`, { headers: { Authorization: `Bearer ${key}` } });
  const s = await res.json();
  assert.equal(s.status, 'ended');
  assert.equal(s.ended_reason, 'client');
});

test('a dead link says so', async () => {
  // The session has ended, so its token no longer works.
  await page.goto('about:blank');
  await page.goto(via(proxy, clientURL));
  await page.getByText('This chat link has expired or the conversation has ended').waitFor();
  assert.equal(await input().isDisabled(), true);
  // A link without its token.
  await page.goto(via(proxy, clientURL.split('#')[0]));
  await page.getByRole('alert').getByText('no access token').waitFor();
  assert.deepEqual(browser.errors, []);
  // The page keeps to its Content-Security-Policy.
  assert.deepEqual(console.filter((t) => /Content Security Policy|Refused to/i.test(t)), []);
});
