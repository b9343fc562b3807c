/*
 * Hyponema chat widget. On your page:
 *
 *   <script src="https://HYPONEMA/widget.js" data-client-url="CLIENT_URL" async></script>
 *
 * where CLIENT_URL is the client_url that your backend got from
 * POST /sessions (or give data-session-id and data-token instead). Optional:
 * data-title (the panel's heading), data-label (the launcher's accessible
 * name), data-open="true" (start open).
 *
 * It adds a launcher button and a chat panel to the page, inside a shadow
 * root, and calls the Hyponema API that it was loaded from with the
 * session's client token. The API answers only pages whose origin is in the
 * agent's allowed_origins. Theme it with the --hyponema-* custom
 * properties (see chat.css and widget.css).
 */
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script || !script.src) {
    console.error('Hyponema widget: load widget.js with a <script src=…> tag.');
    return;
  }
  // The API is where widget.js is: {base}/widget.js → {base}.
  var base = new URL('.', script.src).href.replace(/\/+$/, '');
  var data = script.dataset;

  function config() {
    var sessionId = data.sessionId || '';
    var token = data.token || '';
    if (data.clientUrl) {
      try {
        var u = new URL(data.clientUrl, location.href);
        var parts = u.pathname.split('/').filter(Boolean);
        sessionId = decodeURIComponent(parts[parts.length - 1] || '');
        token = new URLSearchParams(u.hash.slice(1)).get('token') || '';
      } catch (e) {
        sessionId = token = '';
      }
    }
    return { sessionId: sessionId, token: token };
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    (children || []).forEach(function (c) { e.append(c); });
    return e;
  }

  function icon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z');
    svg.append(path);
    return svg;
  }

  function start() {
    var cfg = config();
    var title = data.title || 'Chat';
    var host = document.createElement('hyponema-widget');
    var root = host.attachShadow({ mode: 'open' });
    var panelId = 'hyponema-panel';
    var launcher = el('button', {
      type: 'button', class: 'hy-launcher', 'aria-expanded': 'false', 'aria-controls': panelId,
      'aria-label': data.label || 'Open chat', title: data.label || 'Open chat',
    }, [icon()]);
    var close = el('button', { type: 'button', class: 'hy-button hy-button--quiet hy-close', 'aria-label': 'Close chat', title: 'Close chat' }, ['\u00d7']);
    var panel = el('div', { id: panelId, class: 'hy-panel', role: 'dialog', 'aria-modal': 'false', 'aria-label': title });
    panel.hidden = true;
    // The launcher shows once its styles have loaded, never unstyled.
    launcher.hidden = true;
    var styles = el('link', { rel: 'stylesheet', href: base + '/web/widget.css' });
    var show = function () { launcher.hidden = false; };
    styles.addEventListener('load', show);
    styles.addEventListener('error', show);
    root.append(el('link', { rel: 'stylesheet', href: base + '/web/chat.css' }), styles, panel, launcher);
    document.body.append(host);

    var chat = null;
    var loading = null;

    function failure(text) {
      var p = el('p', { class: 'hy-failure', role: 'alert', tabindex: '-1' }, [text]);
      panel.append(p);
    }

    function load() {
      if (loading) return loading;
      if (!cfg.sessionId || !cfg.token) {
        failure('This chat is not set up: the page gives it no session. (Set data-client-url on the widget’s script tag.)');
        loading = Promise.resolve();
        return loading;
      }
      loading = import(base + '/web/chat-core.js').then(function (core) {
        chat = core.mountChat(panel, {
          baseURL: base, sessionId: cfg.sessionId, token: cfg.token,
          title: title, headingLevel: 2, headerActions: [close],
        });
        return chat.started;
      }, function () {
        failure('The chat could not be loaded. Check your connection and reload the page.');
      });
      return loading;
    }

    function open() {
      panel.hidden = false;
      launcher.setAttribute('aria-expanded', 'true');
      launcher.setAttribute('aria-label', 'Close chat');
      return load().then(function () {
        if (panel.hidden) return;
        var target = chat && !chat.input.disabled ? chat.input : panel.querySelector('.hy-error, .hy-notice, .hy-failure, .hy-log');
        if (target) target.focus();
      });
    }

    function shut() {
      panel.hidden = true;
      launcher.setAttribute('aria-expanded', 'false');
      launcher.setAttribute('aria-label', data.label || 'Open chat');
      launcher.focus();
    }

    launcher.addEventListener('click', function () {
      if (panel.hidden) open();
      else shut();
    });
    close.addEventListener('click', shut);
    panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') {
        e.stopPropagation();
        shut();
      }
    });

    if (data.open === 'true') open();
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
