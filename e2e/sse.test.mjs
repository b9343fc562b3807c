// The chat module's SSE parser, in Node: events split across chunks at
// every possible point come out whole and the same.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEvents, SSEParser } from '../httpapi/web/chat-core.js';

const stream =
  ': ping\n\n' +
  'id: 3\nevent: message.created\ndata: {"id":"msg_1","role":"user","text":"Où est ma commande ? 📦"}\n\n' +
  'id: 4\r\nevent: message.delta\r\ndata: {"message_id":"msg_2","delta":"Your "}\r\n\r\n' +
  'id: 5\revent: message.delta\rdata: {"message_id":"msg_2","delta":"order"}\r\r' +
  'id:6\nevent:tool.call\ndata:{"call_id":"c1","tool":"lookup_order","arguments":{}}\n\n' +
  'id: 7\nevent: error\ndata: {"detail":"two",\ndata: "error_kind":"provider_error"}\n\n' +
  'event: done\ndata: {}\n\n' +
  'id: 9\nevent: cut\ndata: {}\n'; // no blank line: never dispatched

const want = [
  { id: '3', event: 'message.created', data: '{"id":"msg_1","role":"user","text":"Où est ma commande ? 📦"}' },
  { id: '4', event: 'message.delta', data: '{"message_id":"msg_2","delta":"Your "}' },
  { id: '5', event: 'message.delta', data: '{"message_id":"msg_2","delta":"order"}' },
  { id: '6', event: 'tool.call', data: '{"call_id":"c1","tool":"lookup_order","arguments":{}}' },
  { id: '7', event: 'error', data: '{"detail":"two",\n"error_kind":"provider_error"}' },
  { id: null, event: 'done', data: '{}' },
];

test('one chunk', () => {
  assert.deepEqual(new SSEParser().push(stream), want);
});

test('split at every point, in text', () => {
  for (let i = 0; i <= stream.length; i++) {
    const p = new SSEParser();
    const got = [...p.push(stream.slice(0, i)), ...p.push(stream.slice(i))];
    assert.deepEqual(got, want, `split at ${i}: ${JSON.stringify(stream.slice(i - 3, i + 3))}`);
  }
});

test('split at every byte, through a byte stream', async () => {
  const bytes = new TextEncoder().encode(stream);
  for (const size of [1, 2, 3, 7, 64]) {
    const body = new ReadableStream({
      start(c) {
        for (let i = 0; i < bytes.length; i += size) c.enqueue(bytes.slice(i, i + size));
        c.close();
      },
    });
    const got = [];
    for await (const ev of readEvents(body)) got.push(ev);
    assert.deepEqual(got, want, `chunks of ${size} bytes`);
  }
});

test('a silent stream ends after the idle time', async () => {
  const body = new ReadableStream({ start() {} }); // never sends
  const start = Date.now();
  const got = [];
  for await (const ev of readEvents(body, 50)) got.push(ev);
  assert.deepEqual(got, []);
  assert.ok(Date.now() - start < 2000);
});
