// Helpers for the browser tests: Debian's chromium driven by
// playwright-core (never a downloaded browser), a TCP proxy whose
// connections the test can cut, and the environment e2e_test.go sets.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// env returns a variable that e2e_test.go must have set.
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through e2e_test.go (HYPONEMA_E2E=1 go test ./e2e/)`);
  return v;
}

// launch starts chromium headless in a fresh profile.
export async function launch({ viewport = { width: 1024, height: 768 } } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'hyponema-e2e-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.HYPONEMA_E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  context.setDefaultTimeout(15000);
  const errors = [];
  context.on('weberror', (e) => errors.push(String(e.error())));
  return {
    context,
    errors, // uncaught exceptions in pages
    async close() {
      await context.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// startProxy forwards TCP from a loopback port to target's host and port.
// cut() drops every connection at once, as a network failure would.
export async function startProxy(target) {
  const t = new URL(target);
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(t.port), t.hostname);
    sockets.add(client).add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      const n = sockets.size;
      for (const s of sockets) {
        if (s.resetAndDestroy) s.resetAndDestroy();
        else s.destroy();
      }
      sockets.clear();
      return n / 2;
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// via rewrites a URL to go through the proxy (same path, query, fragment).
export function via(proxy, url) {
  const u = new URL(url);
  const p = new URL(proxy.url);
  u.host = p.host;
  return u.href;
}

// contrast is the WCAG contrast ratio of two CSS rgb() colours.
export function contrast(a, b) {
  const lum = (c) => {
    const [r, g, b2] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b2;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
