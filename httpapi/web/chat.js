// The hosted chat page, GET /chat/{session_id}. Its client_url carries the
// session's client token in the fragment (#token=hct_…), which browsers
// never send to a server. The page keeps the token in memory and in
// sessionStorage (for reloads in this tab), and takes it out of the
// address bar so that it is not bookmarked, shared or shown on screen.
import { mountChat } from './chat-core.js';

const root = document.getElementById('hyponema-chat');
const sessionId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop() || '');
const storageKey = `hyponema.client-token.${sessionId}`;
// The API is where the page is: {base}/chat/{id} → {base}.
const baseURL = new URL('..', location.href).href;

function takeToken() {
  const fromURL = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromURL) {
    try {
      sessionStorage.setItem(storageKey, fromURL);
    } catch {
      // storage may be off: the token then lives in memory only
    }
    history.replaceState(history.state, '', location.pathname + location.search);
    return fromURL;
  }
  try {
    return sessionStorage.getItem(storageKey);
  } catch {
    return null;
  }
}

function forget() {
  try {
    sessionStorage.removeItem(storageKey);
  } catch {
    // nothing stored
  }
}

const token = takeToken();
if (!token) {
  const p = document.createElement('p');
  p.className = 'hy-page-message';
  p.setAttribute('role', 'alert');
  p.textContent = 'This chat link is incomplete: it has no access token. Open the whole link you were given.';
  root.append(p);
} else {
  const chat = mountChat(root, { baseURL, sessionId, token, headingLevel: 1, onUnauthorized: forget });
  chat.started.then(() => chat.focus());
}
