// Hyponema chat: the one module behind the hosted chat page (/chat/{id})
// and the embeddable widget (/widget.js). It talks to a session's client
// endpoints with the session's client token (Authorization: Bearer hct_…):
//
//   GET  /sessions/{id}           the session
//   GET  /sessions/{id}/messages  the transcript, oldest first
//   POST /sessions/{id}/messages  a message; the reply streams back as SSE
//   GET  /sessions/{id}/events    the session's events after Last-Event-ID
//   POST /sessions/{id}/end       ends the session
//
// A reply whose stream breaks is picked up from the session's events after
// the last event id seen, so nothing is lost and nothing shown twice.

// IDLE_MS: the server pings every 15 s; a stream silent for longer than
// this is taken for dead and reconnected.
const IDLE_MS = 45000;
// RETRY_MS: waits between attempts to reach the server after a failure;
// the last one repeats until GIVE_UP_MS have passed.
const RETRY_MS = [250, 500, 1000, 2000, 4000];
const GIVE_UP_MS = 120000;

// SSEParser turns the text of a server-sent event stream, in chunks split
// anywhere, into events {id, event, data} (the WHATWG event stream format).
export class SSEParser {
  constructor() {
    this.buf = '';
    this.id = null;
    this.event = '';
    this.data = [];
  }

  // push feeds the next chunk of text and returns the events it completes.
  push(text) {
    this.buf += text;
    const out = [];
    // A lone \r ends a line too, but one at the end of the buffer may be
    // the first half of \r\n: wait for the next chunk.
    const eol = /\r\n|\n|\r(?=[^\n])/g;
    let start = 0;
    for (let m; (m = eol.exec(this.buf)); start = eol.lastIndex) {
      this.line(this.buf.slice(start, m.index), out);
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  line(line, out) {
    if (line === '') {
      if (this.data.length > 0) {
        out.push({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.id = null;
      this.event = '';
      this.data = [];
      return;
    }
    if (line[0] === ':') return; // a comment: the server's ping
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}

// readEvents yields the events of a response body as they arrive. It
// returns when the stream ends, is cancelled, or stays silent for idleMs;
// it throws if the connection fails.
export async function* readEvents(body, idleMs = IDLE_MS) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SSEParser();
  let timer;
  try {
    for (;;) {
      clearTimeout(timer);
      timer = setTimeout(() => reader.cancel().catch(() => {}), idleMs);
      const { done, value } = await reader.read();
      if (done) {
        yield* parser.push(decoder.decode());
        return;
      }
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
}

// APIError is an error answer of the API: {detail, error_kind}.
export class APIError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.name = 'APIError';
    this.status = status;
    this.kind = (body && body.error_kind) || '';
  }

  static async from(res) {
    let body = null;
    try {
      body = await res.json();
    } catch {
      // not JSON: a proxy's page, say
    }
    return new APIError(res.status, body);
  }
}

// ChatAPI calls one session's client endpoints with its client token.
export class ChatAPI {
  constructor({ baseURL, sessionId, token }) {
    this.baseURL = String(baseURL).replace(/\/+$/, '');
    this.sessionId = sessionId;
    this.token = token;
  }

  url(path) {
    return `${this.baseURL}/sessions/${encodeURIComponent(this.sessionId)}${path}`;
  }

  request(method, path, { headers = {}, body, signal } = {}) {
    const h = { Authorization: `Bearer ${this.token}`, ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    return fetch(this.url(path), {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  }

  async json(method, path, opts) {
    const res = await this.request(method, path, opts);
    if (!res.ok) throw await APIError.from(res);
    return res.json();
  }

  getSession() {
    return this.json('GET', '');
  }

  // transcript returns the session's messages, oldest first.
  async transcript() {
    const out = [];
    let cursor = '';
    for (let page = 0; page < 20; page++) {
      const q = `?order=asc&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await this.json('GET', `/messages${q}`);
      out.push(...res.data);
      if (!res.has_more || !res.next_cursor) break;
      cursor = res.next_cursor;
    }
    return out;
  }

  end() {
    return this.json('POST', '/end', { body: {} });
  }

  // send posts the user's message and answers with the response whose body
  // is the turn's event stream. The idempotency key makes a retry after a
  // lost connection safe: the server never takes the message twice.
  send(text, idempotencyKey, signal) {
    return this.request('POST', '/messages', {
      body: { text },
      headers: { Accept: 'text/event-stream', 'Idempotency-Key': idempotencyKey },
      signal,
    });
  }

  // events follows the session's events after the event id `after`.
  events(after, signal) {
    const headers = { Accept: 'text/event-stream' };
    if (after > 0) headers['Last-Event-ID'] = String(after);
    return this.request('GET', '/events', { headers, signal });
  }
}

// Words the user sees, in one place.
const TEXT = {
  title: 'Chat',
  label: 'Your message',
  hint: 'Enter to send, Shift+Enter for a new line',
  send: 'Send',
  end: 'End conversation',
  you: 'You said:',
  agent: 'Agent said:',
  log: 'Conversation',
  loading: 'Loading the conversation…',
  reconnecting: 'Connection lost. Reconnecting…',
  ended: 'This conversation has ended.',
  interrupted: 'This reply was interrupted.',
  notSent: 'Not sent.',
  unauthorized: 'This chat link has expired or the conversation has ended. Ask for a new link to keep chatting.',
  forbidden: 'This chat cannot be used from this page.',
  offline: 'Could not reach the chat service. Check your connection and try again.',
  unreachable: 'Could not reach the chat service. Check your connection and reload the page.',
  busy: 'The agent is still answering your previous message. Try again in a moment.',
  kinds: {
    provider_error: 'The agent could not answer just now. Please try again.',
    provider_timeout: 'The agent took too long to answer. Please try again.',
    tool_error: 'A tool the agent used failed.',
    rate_limited: 'Too many messages at once. Wait a moment and try again.',
    internal_error: 'Something went wrong on our side. Please try again.',
    unavailable: 'The chat service is unavailable right now. Please try again later.',
  },
};

// h makes an element: h('p', {class: 'x'}, 'text', child…).
function h(doc, tag, attrs = {}, ...children) {
  const el = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== false && v != null) el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.filter((c) => c != null));
  return el;
}

// toolName makes a function name readable: lookup_order → "lookup order".
function toolName(name) {
  return String(name || 'a tool').replace(/[_\-.]+/g, ' ').trim();
}

function newKey() {
  if (globalThis.crypto && crypto.randomUUID) return `hyc-${crypto.randomUUID()}`;
  return `hyc-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

let instances = 0;

// Chat is one chat view bound to one session.
export class Chat {
  // options: baseURL, sessionId, token; title; headingLevel (1 on a page
  // of its own, 2 inside another page); headerActions (elements to add to
  // the header, e.g. the widget's close button); onUnauthorized.
  constructor(root, options) {
    this.doc = root.ownerDocument;
    this.api = new ChatAPI(options);
    this.options = options;
    this.messages = new Map(); // message id → {el, body, text, complete, rebuild}
    this.tools = new Map(); // call id → element
    this.lastId = 0; // the last event id seen, once any has been
    this.ready = false;
    this.busy = false;
    this.ended = false;
    this.dead = false; // the token no longer works
    this.controller = null; // aborts the stream being read
    this.build(root);
  }

  build(root) {
    const d = this.doc;
    const n = ++instances;
    const ids = { title: `hy-title-${n}`, input: `hy-input-${n}`, hint: `hy-hint-${n}` };
    const level = Math.min(Math.max(Number(this.options.headingLevel) || 1, 1), 6);
    this.endButton = h(d, 'button', { type: 'button', class: 'hy-button hy-button--quiet hy-end', disabled: true }, TEXT.end);
    this.log = h(d, 'div', { class: 'hy-log', role: 'log', 'aria-live': 'polite', 'aria-label': TEXT.log, tabindex: '0' });
    this.status = h(d, 'p', { class: 'hy-status', role: 'status' });
    this.input = h(d, 'textarea', {
      id: ids.input, class: 'hy-input', name: 'message', rows: '1', disabled: true,
      'aria-describedby': ids.hint, autocomplete: 'off', enterkeyhint: 'send',
    });
    this.sendButton = h(d, 'button', { type: 'submit', class: 'hy-button hy-send', disabled: true }, TEXT.send);
    this.form = h(d, 'form', { class: 'hy-composer', novalidate: true },
      h(d, 'label', { for: ids.input, class: 'hy-label' }, TEXT.label),
      h(d, 'div', { class: 'hy-row' }, this.input, this.sendButton),
      h(d, 'p', { id: ids.hint, class: 'hy-hint' }, TEXT.hint));
    this.el = h(d, 'section', { class: 'hy-chat', 'aria-labelledby': ids.title },
      h(d, 'header', { class: 'hy-header' },
        h(d, `h${level}`, { id: ids.title, class: 'hy-title' }, this.options.title || TEXT.title),
        h(d, 'div', { class: 'hy-actions' }, this.endButton, ...(this.options.headerActions || []))),
      this.log, this.status, this.form);
    root.append(this.el);

    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        this.submit();
      }
    });
    this.endButton.addEventListener('click', () => this.end());
  }

  // start loads the session and its transcript; it resolves when the chat
  // is ready (or has shown why it is not).
  async start() {
    this.setStatus(TEXT.loading);
    let resume = null;
    try {
      const session = await this.api.getSession();
      const transcript = await this.api.transcript();
      for (const m of transcript) this.showStored(m);
      if (session.status === 'ended') {
        this.showEnded(false);
        return;
      }
      this.ready = true;
      const last = transcript[transcript.length - 1];
      // An incomplete reply without an error is still being written (the
      // page was reloaded mid-reply): follow it to its end.
      if (last && last.role === 'assistant' && last.status === 'incomplete' && !last.error) resume = last.id;
    } catch (err) {
      this.fail(err, TEXT.unreachable);
      return;
    } finally {
      this.setStatus('');
      this.update();
    }
    if (resume) this.resumeReply(resume);
  }

  focus() {
    if (!this.input.disabled) this.input.focus();
  }

  setStatus(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  update() {
    const usable = this.ready && !this.ended && !this.dead;
    this.input.disabled = !usable;
    this.sendButton.disabled = !usable || this.busy;
    this.endButton.disabled = !usable;
  }

  // append adds a line to the log and keeps the newest in view, unless
  // the reader has scrolled up.
  append(el) {
    const atEnd = this.atEnd();
    this.log.append(el);
    if (atEnd) this.scrollToEnd();
    return el;
  }

  atEnd() {
    const l = this.log;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  // bubble adds a message: role user or assistant.
  bubble(role, text, id) {
    const d = this.doc;
    const body = h(d, 'span', { class: 'hy-text' }, text);
    const el = h(d, 'div', { class: `hy-msg hy-msg--${role}`, 'data-role': role },
      h(d, 'span', { class: 'hy-visually-hidden' }, `${role === 'user' ? TEXT.you : TEXT.agent} `), body);
    const m = { el, body, text, role, complete: false, rebuild: false };
    if (id) this.bind(m, id);
    this.append(el);
    return m;
  }

  bind(m, id) {
    m.id = id;
    m.el.dataset.id = id;
    this.messages.set(id, m);
  }

  setText(m, text) {
    const atEnd = this.atEnd();
    m.text = text;
    m.body.textContent = text;
    if (atEnd) this.scrollToEnd();
  }

  finish(m, stored) {
    m.complete = true;
    m.el.classList.remove('hy-msg--streaming');
    if (stored.status === 'incomplete') this.note(m, TEXT.interrupted);
  }

  note(m, text) {
    if (!m.el.querySelector('.hy-note')) m.el.append(h(this.doc, 'span', { class: 'hy-note' }, text));
  }

  showStored(msg) {
    if ((msg.role !== 'user' && msg.role !== 'assistant') || !msg.text || this.messages.has(msg.id)) return;
    const m = this.bubble(msg.role, msg.text, msg.id);
    if (msg.role === 'assistant' && msg.status === 'incomplete' && !msg.error) {
      m.rebuild = true; // its text comes again, whole, with the events
      m.el.classList.add('hy-msg--streaming');
      return;
    }
    this.finish(m, msg);
  }

  line(kind, text) {
    return this.append(h(this.doc, 'p', { class: `hy-line hy-${kind}` }, text));
  }

  showError(text) {
    const el = this.line('error', text);
    el.setAttribute('tabindex', '-1');
    return el;
  }

  // showEnded shows that the session is over and stops the chat.
  showEnded(focus) {
    if (this.ended) return;
    this.ended = true;
    this.abort();
    const hadFocus = this.el.contains(this.el.getRootNode().activeElement);
    const el = this.line('notice', TEXT.ended);
    el.setAttribute('tabindex', '-1');
    this.el.classList.add('hy-chat--ended');
    this.update();
    if (focus || hadFocus) el.focus();
  }

  abort() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  // fail shows an error that stopped an action, as plainly as it can;
  // unreachable is what to say when the server could not be reached.
  fail(err, unreachable = TEXT.offline) {
    if (err instanceof APIError) {
      if (err.status === 401) {
        if (!this.dead) {
          this.dead = true;
          this.abort();
          this.update();
          this.showError(TEXT.unauthorized).focus();
          if (this.options.onUnauthorized) this.options.onUnauthorized();
        }
        return;
      }
      if (err.kind === 'session_ended') return this.showEnded(false);
      if (err.kind === 'conflict') return this.showError(TEXT.busy);
      if (err.status === 403) return this.showError(TEXT.forbidden);
      return this.showError(TEXT.kinds[err.kind] || err.message);
    }
    if (err && err.name === 'AbortError') return;
    this.showError(unreachable);
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text || !this.ready || this.busy || this.ended || this.dead) return;
    this.busy = true;
    this.update();
    this.input.value = '';
    const turn = { pending: this.bubble('user', text), started: true, seen: false };
    turn.pending.el.classList.add('hy-msg--pending');
    try {
      await this.runTurn(text, turn);
    } catch (err) {
      if (!turn.pending.id) {
        // The server never took the message: give it back.
        this.note(turn.pending, TEXT.notSent);
        turn.pending.el.classList.add('hy-msg--failed');
        if (!this.input.value) this.input.value = text;
      }
      this.fail(err);
    } finally {
      turn.pending.el.classList.remove('hy-msg--pending');
      this.log.removeAttribute('aria-busy');
      this.setStatus('');
      this.busy = false;
      this.update();
    }
  }

  // runTurn sends the message and shows the reply to its end. A broken
  // stream is followed up on the session's events after the last id seen;
  // if none was seen, the send is retried with the same idempotency key.
  async runTurn(text, turn) {
    const key = newKey();
    let follow = false;
    let sends = 0;
    const give = this.retrier();
    for (;;) {
      if (this.ended || this.dead) return;
      this.controller = new AbortController();
      let res;
      try {
        if (follow) {
          res = await this.api.events(this.lastId, this.controller.signal);
        } else {
          sends++;
          res = await this.api.send(text, key, this.controller.signal);
        }
      } catch (err) {
        if (err.name === 'AbortError') return;
        await give(err);
        continue;
      }
      if (!res.ok) {
        const err = await APIError.from(res);
        if (!follow && sends > 1 && err.status === 409 && err.kind === 'conflict') {
          // The first send with this key is still running, or its stream
          // was cut: its reply is in the session's events. (On a first
          // send, 409 conflict means another turn is running.)
          follow = true;
          turn.started = turn.seen || this.lastId > 0;
          continue;
        }
        if (err.status >= 500 || err.status === 429) {
          await give(err);
          continue;
        }
        throw err;
      }
      if (await this.consume(res, turn)) return;
      if (turn.seen && !follow) {
        follow = true;
        turn.started = true;
      }
      await give(new TypeError('stream broke'));
    }
  }

  // retrier returns a function that waits before the next attempt, showing
  // that the connection is being restored, and throws the last error once
  // attempts have gone on for too long. Going back online skips the wait.
  retrier() {
    const first = Date.now();
    let n = 0;
    return (err) => {
      if (Date.now() - first > GIVE_UP_MS) return Promise.reject(err);
      this.setStatus(TEXT.reconnecting);
      const ms = RETRY_MS[Math.min(n++, RETRY_MS.length - 1)];
      return new Promise((resolve) => {
        const win = this.doc.defaultView;
        const done = () => {
          clearTimeout(t);
          if (win) win.removeEventListener('online', done);
          resolve();
        };
        const t = setTimeout(done, ms);
        if (win) win.addEventListener('online', done);
      });
    };
  }

  // consume shows a stream's events; it reports whether the turn is over.
  async consume(res, turn) {
    try {
      for await (const ev of readEvents(res.body)) {
        this.setStatus('');
        if (this.apply(ev, turn)) return true;
      }
    } catch (err) {
      if (err.name === 'AbortError') return true;
      // the connection broke: the caller reconnects
    } finally {
      this.abort();
    }
    return this.ended || this.dead;
  }

  // apply shows one event; it reports whether the turn is over. Events at
  // or before the last id seen are repeats and skipped. turn.started is
  // false while following from an unknown position: the session's earlier
  // turns replay first, and are already on screen.
  apply(ev, turn) {
    const id = /^\d+$/.test(ev.id || '') ? Number(ev.id) : null;
    if (ev.event !== 'error' && id !== null && id <= this.lastId) return false;
    if (id !== null && id > this.lastId) this.lastId = id;
    turn.seen = true;
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return false;
    }
    switch (ev.event) {
      case 'message.created': {
        if (!data || this.messages.has(data.id)) return false;
        turn.started = true;
        if (data.role === 'user' && turn.pending && !turn.pending.id) {
          this.bind(turn.pending, data.id);
          this.setText(turn.pending, data.text);
        } else if (data.role === 'user' || data.role === 'assistant') {
          this.bubble(data.role, data.text || '', data.id);
        }
        return false;
      }
      case 'message.delta': {
        let m = this.messages.get(data.message_id);
        if (m && m.complete) return false;
        turn.started = true;
        if (!m) {
          m = this.bubble('assistant', '', data.message_id);
          m.el.classList.add('hy-msg--streaming');
          this.log.setAttribute('aria-busy', 'true');
        } else if (m.rebuild) {
          m.rebuild = false;
          m.text = '';
        }
        this.setText(m, m.text + (data.delta || ''));
        return false;
      }
      case 'message.completed': {
        const m = this.messages.get(data.id);
        if (m && m.complete) return false;
        if (!m && !turn.started) return false;
        this.log.removeAttribute('aria-busy');
        if (m) {
          if (data.text) this.setText(m, data.text);
          this.finish(m, data);
        } else if (data.text) {
          this.finish(this.bubble(data.role === 'user' ? 'user' : 'assistant', data.text, data.id), data);
        }
        return false;
      }
      case 'tool.call': {
        if (!turn.started || this.tools.has(data.call_id)) return false;
        const el = this.line('tool', `Using ${toolName(data.tool)}…`);
        el.dataset.callId = data.call_id;
        this.tools.set(data.call_id, el);
        return false;
      }
      case 'tool.result': {
        if (!turn.started) return false;
        let el = this.tools.get(data.call_id);
        if (!el) {
          el = this.line('tool', '');
          this.tools.set(data.call_id, el);
        }
        if (data.ok) {
          el.textContent = `Used ${toolName(data.tool)}.`;
        } else {
          el.textContent = `${toolName(data.tool)} failed${data.error ? `: ${data.error}` : '.'}`;
          el.classList.add('hy-tool--failed');
        }
        return false;
      }
      case 'session.ended':
        this.showEnded(false);
        return true;
      case 'error':
        if (!turn.started) return false;
        if (data.error_kind === 'session_ended') {
          this.showEnded(false);
        } else {
          this.showError(TEXT.kinds[data.error_kind] || data.detail || TEXT.kinds.internal_error);
        }
        return true;
      case 'done':
        return turn.started;
      default:
        return false;
    }
  }

  // resumeReply follows a reply that was being written when the page
  // loaded, from the start of the session's events (where it is stored).
  async resumeReply(messageId) {
    this.busy = true;
    this.update();
    const turn = { pending: null, started: false, seen: false };
    const give = this.retrier();
    try {
      for (;;) {
        if (this.ended || this.dead) return;
        this.controller = new AbortController();
        let res;
        try {
          res = await this.api.events(this.lastId, this.controller.signal);
        } catch (err) {
          if (err.name === 'AbortError') return;
          await give(err);
          continue;
        }
        if (!res.ok) throw await APIError.from(res);
        if (await this.consume(res, turn)) return;
        if (this.messages.get(messageId) && this.messages.get(messageId).complete) return;
        await give(new TypeError('stream broke'));
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.log.removeAttribute('aria-busy');
      this.setStatus('');
      this.busy = false;
      this.update();
    }
  }

  // end ends the session.
  async end() {
    if (this.ended || this.dead) return;
    this.endButton.disabled = true;
    try {
      await this.api.end();
      this.showEnded(true);
    } catch (err) {
      this.fail(err);
      this.update();
    }
  }
}

// mountChat renders a chat for one session into root and starts it. The
// returned chat's `started` promise resolves once it has loaded.
export function mountChat(root, options) {
  const chat = new Chat(root, options);
  chat.started = chat.start();
  return chat;
}
