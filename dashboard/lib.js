// Shared plumbing: DOM building, the API client (every call goes through the public /v1 API),
// the session (admin key or tenant token, kept in sessionStorage), and formatting.

/** h('tag.class', {attrs}, ...children): text children are set as text, never parsed as HTML. */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k in el && k !== 'list' && k !== 'form' && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let uid = 0;
export const nextId = (p = 'f') => `${p}-${++uid}`;

/** An error a person can read: the API's problem document, or a network failure. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `Request failed (${status})`);
    this.status = status;
    this.problem = problem || {};
    this.fields = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

export function explain(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong in the page. Reload it and try again.';
  if (err.status === 0) return 'Sluice cannot be reached. Check that it is running and try again.';
  if (err.status === 401) return 'Your key or portal link is not valid any more. Sign in again.';
  if (err.status === 403) return 'This session is not allowed to do that.';
  const p = err.problem;
  const title = p.title || `Request failed (${err.status})`;
  return p.detail && p.detail !== title ? `${title}: ${p.detail}` : title;
}

// ---- session ----------------------------------------------------------------------------

const KEY = 'sluice.session';
export const session = {
  get() {
    try {
      const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (s && s.kind === 'tenant' && s.exp && s.exp * 1000 < Date.now()) return null;
      return s;
    } catch {
      return null;
    }
  },
  set(s) {
    sessionStorage.setItem(KEY, JSON.stringify(s));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
  tenant() {
    return this.get()?.tenant || '';
  },
  isAdmin() {
    return this.get()?.kind === 'admin';
  },
};

/** The claims of a tenant token (not verified here: the API does that on every call). */
export function tokenClaims(token) {
  const part = String(token).split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const c = JSON.parse(json);
    return typeof c.tid === 'string' ? c : null;
  } catch {
    return null;
  }
}

let onUnauthorized = () => {};
export const setUnauthorizedHandler = (f) => (onUnauthorized = f);

export async function api(method, path, body, { credential } = {}) {
  const cred = credential ?? session.get()?.credential;
  const headers = {};
  if (cred) headers.authorization = `Bearer ${cred}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { title: 'Sluice cannot be reached' });
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, json && typeof json === 'object' ? json : null);
    if (res.status === 401 && !credential) onUnauthorized(err);
    throw err;
  }
  return json;
}

/** The tenant's API path: `tpath('destinations', id)`. */
export const tpath = (...parts) =>
  ['/v1/tenants', session.tenant(), ...parts].map((p, i) => (i ? encodeURIComponent(p) : p)).join('/');

export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// ---- formatting -------------------------------------------------------------------------

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(iso) {
  if (!iso) return '—';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return when(iso);
}

export const pretty = (v) => JSON.stringify(v, null, 2);

export function badge(text, kind = text) {
  return h('span.badge', { 'data-kind': String(kind).toLowerCase() }, text);
}

/** A destination's target in a few words, whatever its type. */
export function target(d) {
  const c = d.config || {};
  if (c.url) return c.url;
  if (c.queue_url) return c.queue_url;
  if (d.type === 'aws_s3' && c.bucket) return `s3://${c.bucket}`;
  if (d.type === 'aws_eventbridge') return `bus ${c.event_bus_name || 'default'} (${c.region || '?'})`;
  if (d.type === 'rabbitmq') return `${c.endpoint || ''} → ${c.exchange || 'default exchange'}`;
  if (d.type === 'kafka') return `${c.endpoint || ''} → ${c.topic || ''}`;
  if (d.type === 'gcp_pubsub') return `topic ${c.topic || ''}`;
  if (d.type === 'websocket') return 'connected WebSocket clients';
  return c.endpoint || c.topic || c.channel || '—';
}

export function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.classList.add('on');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('on'), 4000);
}

/** A modal confirmation on a native <dialog>: resolves true when confirmed. */
export function confirmDialog(title, text, action = 'Confirm') {
  return new Promise((resolve) => {
    const dlg = h(
      'dialog.confirm',
      { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', text),
      h(
        'form.row',
        { method: 'dialog' },
        h('button', { value: 'cancel', class: 'secondary' }, 'Cancel'),
        h('button', { value: 'ok', class: 'danger' }, action),
      ),
    );
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** An error box a person understands. */
export const errorBox = (err) => h('div.alert', { role: 'alert' }, typeof err === 'string' ? err : explain(err));

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied');
  } catch {
    toast('Copy failed: select the text and copy it by hand');
  }
}
