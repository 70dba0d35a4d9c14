// The Sluice dashboard: a hash-routed single page over the public /v1 API. No framework:
// each page is a function that renders into <main> from API answers.

import { h, api, tpath, qs, session, tokenClaims, explain, errorBox, ApiError, setUnauthorizedHandler, when, ago, pretty, badge, target, toast, confirmDialog, copy, nextId } from './lib.js';
import { schemaForm, SETTINGS_SCHEMA, fieldShell, mergeDiff, findField } from './form.js';
import { sparkline, bucketDeliveries, normalizeStats, deliveryBars, latencyLines } from './charts.js';

const main = document.getElementById('main');
const ALERT_TOPIC = 'sluice.alert.*';
const HOUR = 3600_000;

// ---- feature detection: routes other versions of Sluice may not have --------------------

const features = {};
/** Calls `fn`; a 404 or 405 from the route means the server lacks the feature: null. */
async function optional(name, fn) {
  if (features[name] === false) return null;
  try {
    const r = await fn();
    features[name] = true;
    return r;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405) && err.problem?.detail?.startsWith('route ')) {
      features[name] = false;
      return null;
    }
    throw err;
  }
}

const cache = {};
async function catalogue() {
  cache.types ??= api('GET', '/v1/destination-types').then((r) => r.data);
  return cache.types;
}
async function topicNames() {
  cache.topics ??= api('GET', '/v1/topics?limit=100').then((r) => r.data.map((t) => t.name)).catch(() => []);
  return cache.topics;
}
async function destinationsAll() {
  const out = [];
  let cursor = null;
  do {
    const r = await api('GET', tpath('destinations') + qs({ limit: 100, cursor }));
    out.push(...r.data);
    cursor = r.next_cursor;
  } while (cursor && out.length < 1000);
  return out;
}

// ---- router -----------------------------------------------------------------------------

const routes = [
  [/^\/login$/, loginPage, { open: true }],
  [/^\/portal$/, portalPage, { open: true }],
  [/^\/destinations$/, destinationsPage],
  [/^\/destinations\/new$/, (q) => destinationForm(null, q)],
  [/^\/destinations\/([^/]+)\/edit$/, (q, id) => destinationForm(id, q)],
  [/^\/destinations\/([^/]+)$/, destinationPage],
  [/^\/events$/, eventsPage],
  [/^\/events\/([^/]+)$/, eventPage],
  [/^\/charts$/, chartsPage],
  [/^\/alerts$/, alertsPage],
  [/^\/tenants$/, tenantsPage],
];

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** Renders the current page again after `ms`, unless the user has gone to another page by then
 * (a late refresh must never redraw, and so empty, the form the user is now filling in). */
function refreshLater(ms) {
  const at = location.hash;
  setTimeout(() => {
    if (location.hash === at) render();
  }, ms);
}

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const raw = location.hash.replace(/^#/, '') || '/destinations';
  const [path, query = ''] = raw.split('?');
  const q = Object.fromEntries(new URLSearchParams(query));
  const found = routes.find(([re]) => re.test(path));
  const s = session.get();
  if (!found) return show(h('section', h('h1', 'Page not found'), h('p', 'There is nothing at this address. ', h('a', { href: '#/destinations' }, 'Go to the destinations.'))));
  const [re, page, opts = {}] = found;
  if (!opts.open && !s) return go('#/login');
  if (!opts.open && s.kind === 'admin' && !s.tenant && path !== '/tenants') return go('#/tenants');
  header();
  main.replaceChildren(h('p.muted', { role: 'status' }, 'Loading…'));
  try {
    const node = await page(q, ...path.match(re).slice(1).map(decodeURIComponent));
    if (seq === renderSeq && node) show(node);
  } catch (err) {
    if (seq === renderSeq) show(h('section', h('h1', 'Could not load this page'), errorBox(err), h('p', h('a', { href: '#/destinations' }, 'Back to the destinations'))));
  }
}

/** Each cell names its column (data-label), for the stacked layout of tables on small screens. */
function labelCells(table) {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
  for (const tr of table.querySelectorAll('tbody tr')) [...tr.children].forEach((td, i) => (td.dataset.label = heads[i] || ''));
}

let shown = 0;
function show(node) {
  if (node instanceof Element) node.querySelectorAll('table').forEach(labelCells);
  main.replaceChildren(node);
  if (!shown++) performance.mark('sluice:first-render');
  // After a navigation inside the app, start reading (and tabbing) at the new page.
  else if (navigated) main.focus({ preventScroll: true });
  navigated = false;
  const h1 = main.querySelector('h1');
  document.title = h1 ? `${h1.textContent} · Sluice` : 'Sluice';
  for (const a of document.querySelectorAll('#nav a')) {
    const here = location.hash.startsWith(a.getAttribute('href'));
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function header() {
  const s = session.get();
  document.getElementById('nav').hidden = !s?.tenant;
  const box = document.getElementById('session');
  if (!s) return box.replaceChildren();
  const out = h('button.secondary.small', { type: 'button', onclick: signOut }, 'Sign out');
  if (s.kind === 'tenant') {
    box.replaceChildren(h('span.small', 'Tenant ', h('strong', s.tenant), ` · ${s.sub || 'portal'}`), out);
  } else {
    box.replaceChildren(
      h('span.small', 'Admin'),
      s.tenant ? h('a.small', { href: '#/tenants', title: 'Switch tenant' }, 'Tenant: ', h('strong', s.tenant)) : null,
      out,
    );
  }
}

function signOut() {
  session.clear();
  for (const k of Object.keys(cache)) delete cache[k];
  go('#/login');
}

setUnauthorizedHandler(() => {
  session.clear();
  toast('Your session ended. Sign in again.');
  go('#/login');
});

// ---- sign in ----------------------------------------------------------------------------

function loginPage() {
  const key = h('input', { type: 'password', id: 'admin-key', autocomplete: 'current-password', required: true });
  const status = h('div');
  const form = h(
    'form.card.narrow',
    {
      async onsubmit(e) {
        e.preventDefault();
        status.replaceChildren();
        if (!key.value.trim()) return status.replaceChildren(errorBox('Enter the admin API key.'));
        try {
          await api('GET', '/v1/tenants?limit=1', undefined, { credential: key.value.trim() });
          session.set({ kind: 'admin', credential: key.value.trim(), tenant: '' });
          go('#/tenants');
        } catch (err) {
          status.replaceChildren(errorBox(err.status === 401 ? 'That key is not valid.' : err));
        }
      },
    },
    h('h1', 'Sign in to Sluice'),
    fieldShell('Admin API key', key, { hint: 'The ADMIN_API_KEY of this Sluice. It is kept in this tab only.' }),
    status,
    h('button', { type: 'submit' }, 'Sign in'),
    h('p.hint', 'A customer opens the portal link their platform gives them (minted with POST /v1/tenants/{id}/portal) and needs no key.'),
  );
  header();
  return form;
}

function portalPage(q) {
  const token = q.token || '';
  const claims = tokenClaims(token);
  if (!claims) return h('section.card.narrow', h('h1', 'This portal link is not valid'), h('p', 'Ask for a new link.'));
  if (claims.exp && claims.exp * 1000 < Date.now()) return h('section.card.narrow', h('h1', 'This portal link has expired'), h('p', 'Ask for a new link.'));
  session.set({ kind: 'tenant', credential: token, tenant: claims.tid, sub: claims.sub, exp: claims.exp });
  // Drop the token from the address bar and the history.
  history.replaceState(null, '', `${location.pathname}#/destinations`);
  render();
  return null;
}

// ---- tenants (admin) --------------------------------------------------------------------

async function tenantsPage() {
  if (!session.isAdmin()) return go('#/destinations');
  const r = await api('GET', '/v1/tenants?limit=100');
  const pick = (id) => {
    session.set({ ...session.get(), tenant: id });
    go('#/destinations');
  };
  const id = h('input', { type: 'text', id: nextId(), autocomplete: 'off' });
  const name = h('input', { type: 'text', id: nextId(), autocomplete: 'off' });
  const status = h('div');
  const create = h(
    'form.card',
    {
      async onsubmit(e) {
        e.preventDefault();
        try {
          const t = await api('POST', '/v1/tenants', { ...(id.value.trim() && { id: id.value.trim() }), ...(name.value.trim() && { name: name.value.trim() }) });
          pick(t.id);
        } catch (err) {
          status.replaceChildren(errorBox(err));
        }
      },
    },
    h('h2', 'New tenant'),
    h('div.grid2', fieldShell('ID', id, { hint: 'Optional; generated when left empty.' }), fieldShell('Name', name)),
    status,
    h('button', { type: 'submit' }, 'Create tenant'),
  );
  return h(
    'section',
    h('h1', 'Choose a tenant'),
    h('p.muted', 'Destinations and events belong to a tenant (one of your customers).'),
    r.data.length
      ? h('ul.tenants', r.data.map((t) => h('li', h('button.link', { type: 'button', onclick: () => pick(t.id) }, t.name || t.id), t.name ? h('span.muted', ` ${t.id}`) : null)))
      : h('p.empty', 'No tenants yet. Create the first one below.'),
    r.next_cursor ? h('p.hint', 'Showing the first 100 tenants.') : null,
    create,
  );
}

// ---- destinations -----------------------------------------------------------------------

async function destinationsPage() {
  const list = await destinationsAll();
  const admin = session.isAdmin();
  const portal = h('div');
  const head = h(
    'div.pagehead',
    h('h1', 'Destinations'),
    h(
      'div.row',
      admin ? h('button.secondary', { type: 'button', onclick: () => portalLink(portal) }, 'Portal link for this tenant') : null,
      h('a.button', { href: '#/destinations/new' }, 'New destination'),
    ),
  );
  if (!list.length)
    return h('section', head, portal, h('div.empty', h('p', 'No destinations yet.'), h('p', 'A destination is where this tenant\'s events go: a webhook URL, a queue, a topic. ', h('a', { href: '#/destinations/new' }, 'Create the first one.'))));
  const rows = list.map((d) => {
    const circuit = h('td', '…');
    const queue = h('td.num', '…');
    const spark = h('td', '…');
    loadRowStatus(d, circuit, queue, spark);
    return h(
      'tr',
      h('td', h('a', { href: `#/destinations/${encodeURIComponent(d.id)}` }, d.name || d.id), d.name ? h('div.small.muted', d.id) : null),
      h('td', d.type),
      h('td.target', target(d)),
      h('td', d.enabled ? badge('enabled') : badge('disabled'), d.topics?.length ? h('div.small.muted', d.topics.join(', ')) : null),
      circuit,
      queue,
      spark,
    );
  });
  return h(
    'section',
    head,
    portal,
    h(
      'div.tablewrap',
      h(
        'table',
        h('caption.sr', 'Destinations of this tenant'),
        h('thead', h('tr', ['Destination', 'Type', 'Target', 'State', 'Circuit', 'Queue', 'Success (1 h)'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', rows),
      ),
    ),
  );
}

async function portalLink(box) {
  try {
    const r = await api('POST', tpath('portal'), { subject: 'dashboard', ttl_seconds: 3600 });
    const input = h('input', { type: 'text', readonly: true, value: r.url, id: nextId() });
    box.replaceChildren(
      h('div.card.secret', fieldShell('Portal link (valid until ' + when(r.expires_at) + ')', input, { hint: 'Anyone with this link acts for this tenant until it expires.' }), h('button.secondary.small', { type: 'button', onclick: () => copy(r.url) }, 'Copy link')),
    );
  } catch (err) {
    box.replaceChildren(errorBox(err));
  }
}

async function recentDeliveries(d, windowMs) {
  // Without the stats API: the newest deliveries, enough to cover the window or 300.
  const out = [];
  let cursor = null;
  do {
    const r = await api('GET', tpath('destinations', d.id, 'deliveries') + qs({ limit: 100, cursor }));
    out.push(...r.data);
    cursor = r.next_cursor;
    const oldest = out[out.length - 1];
    if (oldest && Date.now() - new Date(oldest.created_at).getTime() > windowMs) break;
  } while (cursor && out.length < 300);
  return out;
}

async function intervalsFor(d, windowKey) {
  const windowMs = windowKey === '24h' ? 24 * HOUR : HOUR;
  const stats = await optional('stats', () => api('GET', tpath('destinations', d.id, 'stats') + qs({ window: windowKey })));
  if (stats) return { intervals: normalizeStats(stats), windowMs, fromStats: true };
  return { intervals: bucketDeliveries(await recentDeliveries(d, windowMs), windowMs, windowKey === '24h' ? 24 : 12), windowMs, fromStats: false };
}

/** Runs at most `n` of the queued tasks at a time (a long list must not fire hundreds of requests at once). */
function limiter(n) {
  let running = 0;
  const waiting = [];
  const next = () => {
    if (running >= n || !waiting.length) return;
    running += 1;
    const [task, done] = waiting.shift();
    task().finally(() => {
      running -= 1;
      done();
      next();
    });
  };
  return (task) => new Promise((done) => {
    waiting.push([task, done]);
    next();
  });
}
const rowLoads = limiter(4);

function loadRowStatus(d, circuit, queue, spark) {
  const seq = renderSeq; // rows of a page already left are not loaded
  return rowLoads(() => (seq === renderSeq ? loadRowStatusNow(d, circuit, queue, spark) : Promise.resolve()));
}

async function loadRowStatusNow(d, circuit, queue, spark) {
  try {
    const st = await api('GET', tpath('destinations', d.id, 'status'));
    circuit.replaceChildren(badge(st.circuit.state.replace('_', ' '), st.circuit.state));
    queue.replaceChildren(String(st.queue_depth));
  } catch (err) {
    circuit.replaceChildren(h('span.small.muted', 'unavailable'));
    queue.replaceChildren('—');
  }
  try {
    const { intervals } = await intervalsFor(d, '1h');
    spark.replaceChildren(sparkline(intervals));
  } catch {
    spark.replaceChildren(h('span.small.muted', 'unavailable'));
  }
}

/** The signing secret shown once, after create or rotate. */
let revealOnce = null;

async function destinationPage(q, id) {
  const base = tpath('destinations', id);
  const [d, st] = await Promise.all([api('GET', base), api('GET', `${base}/status`).catch(() => null)]);
  const out = h('section');
  const act = (label, fn, cls = 'secondary') => h(`button.${cls}`, { type: 'button', onclick: fn }, label);
  const run = async (fn, msg) => {
    try {
      await fn();
      toast(msg);
      render();
    } catch (err) {
      toast(explain(err));
    }
  };
  const signs = d.type === 'webhook' && d.config?.signing?.scheme !== 'none';
  const actions = h(
    'div.row',
    h('a.button.secondary', { href: `#/destinations/${encodeURIComponent(id)}/edit` }, 'Edit'),
    d.enabled ? act('Disable', () => run(() => api('POST', `${base}/disable`), 'Disabled')) : act('Enable', () => run(() => api('POST', `${base}/enable`), 'Enabled')),
    st && st.circuit.state !== 'closed' ? act('Reset circuit', () => run(() => api('POST', `${base}/circuit/reset`), 'Circuit closed')) : null,
    signs
      ? act('Rotate signing secret', async () => {
          if (!(await confirmDialog('Rotate the signing secret?', 'A new secret signs from now on; the current one keeps signing alongside it for 24 hours so the receiver can switch.', 'Rotate'))) return;
          try {
            const r = await api('POST', `${base}/signing-secret/rotate`);
            revealOnce = { id, secret: r.signing_secret, note: `The previous secret keeps signing until ${when(r.previous_secret_expires_at)}.` };
            render();
          } catch (err) {
            toast(explain(err));
          }
        })
      : null,
    act(
      'Delete',
      async () => {
        if (!(await confirmDialog(`Delete ${d.name || d.id}?`, 'Its queued deliveries are dropped and nothing more is sent to it. Its event history stays. This cannot be undone.', 'Delete'))) return;
        try {
          await api('DELETE', base);
          toast('Destination deleted');
          go('#/destinations');
        } catch (err) {
          toast(explain(err));
        }
      },
      'danger',
    ),
  );
  out.append(h('div.pagehead', h('div', h('h1', d.name || d.id), h('p.muted', d.type, ' · ', target(d))), actions));
  if (revealOnce?.id === id) out.append(secretPanel(revealOnce));
  if (!d.enabled) out.append(h('div.alert.warn', { role: 'status' }, 'Disabled', d.disabled_reason ? `: ${d.disabled_reason}` : '', '. New events are recorded as skipped; its queue is kept.'));
  out.append(
    h(
      'div.grid2',
      h(
        'div.card',
        h('h2', 'Status'),
        st
          ? h(
              'dl',
              h('dt', 'State'), h('dd', d.enabled ? badge('enabled') : badge('disabled')),
              h('dt', 'Circuit'), h('dd', badge(st.circuit.state.replace('_', ' '), st.circuit.state), st.circuit.consecutive_failures ? ` ${st.circuit.consecutive_failures} consecutive failures` : ''),
              h('dt', 'Queue depth'), h('dd', String(st.queue_depth)),
              h('dt', 'Next attempt'), h('dd', when(st.next_attempt_at)),
              st.websocket_clients !== undefined ? [h('dt', 'Connected clients'), h('dd', String(st.websocket_clients))] : null,
            )
          : h('p.muted', 'The status is not available right now.'),
      ),
      h(
        'div.card',
        h('h2', 'Subscription'),
        h('dl', h('dt', 'Topics'), h('dd', (d.topics || []).join(', ') || '*'), h('dt', 'Filter'), h('dd', d.filter ? h('pre.code', pretty(d.filter)) : 'none'), h('dt', 'Created'), h('dd', when(d.created_at))),
        h('details', h('summary', 'Configuration (credentials masked)'), h('pre.code', pretty({ config: d.config, timeout_ms: d.timeout_ms, retry: d.retry, circuit_breaker: d.circuit_breaker, rate_limit: d.rate_limit, max_in_flight: d.max_in_flight, lanes: d.lanes, disable_after_failures: d.disable_after_failures }))),
      ),
    ),
  );
  out.append(await deliveriesSection(d, q));
  out.append(bulkRetry(d));
  out.append(await chartSection(d, q.window === '24h' ? '24h' : '1h', `#/destinations/${encodeURIComponent(id)}`));
  return out;
}

function secretPanel(r) {
  const input = h('input', { type: 'text', readonly: true, value: r.secret, id: 'signing-secret' });
  return h(
    'div.card.secret',
    { role: 'region', 'aria-label': 'Signing secret' },
    h('h2', 'Signing secret: shown once'),
    h('p', 'Copy it now and store it on the receiving side; Sluice will not show it again. ', r.note || ''),
    fieldShell('Signing secret', input),
    h('div.row', h('button.secondary.small', { type: 'button', onclick: () => copy(r.secret) }, 'Copy'), h('button.small', { type: 'button', onclick: (e) => { revealOnce = null; e.target.closest('.secret').remove(); } }, 'I have stored it')),
  );
}

async function deliveriesSection(d, q) {
  const status = ['pending', 'delivered', 'failed', 'skipped', 'filtered'].includes(q.status) ? q.status : '';
  const r = await api('GET', tpath('destinations', d.id, 'deliveries') + qs({ status, limit: 50, cursor: q.cursor }));
  const sel = h('select', { id: nextId() }, h('option', { value: '' }, 'All'), ['pending', 'delivered', 'failed', 'skipped', 'filtered'].map((s) => h('option', { value: s }, s)));
  sel.value = status;
  sel.addEventListener('change', () => go(`#/destinations/${encodeURIComponent(d.id)}${qs({ status: sel.value })}`));
  const retryable = (x) => x.status === 'failed' || x.status === 'delivered';
  const boxes = [];
  const result = h('div', { 'aria-live': 'polite' });
  const retryBtn = h('button', { type: 'button', disabled: true }, 'Retry selected');
  const update = () => {
    const n = boxes.filter((b) => b.checked).length;
    retryBtn.disabled = !n;
    retryBtn.textContent = n ? `Retry selected (${n})` : 'Retry selected';
  };
  retryBtn.addEventListener('click', async () => {
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    retryBtn.disabled = true;
    const fails = [];
    await Promise.all(chosen.map((id) => api('POST', tpath('destinations', d.id, 'deliveries', id, 'retry')).catch((err) => fails.push(`${id}: ${explain(err)}`))));
    result.replaceChildren(fails.length ? errorBox(`${chosen.length - fails.length} retried; ${fails.length} could not be: ${fails.join('; ')}`) : h('p.ok', `${chosen.length} ${chosen.length === 1 ? 'delivery' : 'deliveries'} queued for a manual retry. Their attempts appear below in a moment.`));
    refreshLater(1500);
  });
  const all = h('input', { type: 'checkbox', id: nextId(), 'aria-label': 'Select every retryable delivery on this page' });
  all.addEventListener('change', () => {
    for (const b of boxes) b.checked = all.checked;
    update();
  });
  const rows = r.data.map((x) => {
    let box = null;
    if (retryable(x)) {
      box = h('input', { type: 'checkbox', value: x.id, 'aria-label': `Select delivery ${x.id} of event ${x.event_id}`, onchange: update });
      boxes.push(box);
    }
    return h(
      'tr',
      h('td', box),
      h('td', h('a', { href: `#/events/${encodeURIComponent(x.event_id)}` }, x.event_id), h('div.small.muted', x.topic)),
      h('td', badge(x.status)),
      h('td.num', String(x.attempts)),
      h('td.err', x.status === 'delivered' ? '' : x.last_error || (x.last_status_code ? `HTTP ${x.last_status_code}` : '')),
      h('td', ago(x.updated_at)),
    );
  });
  return h(
    'div.card',
    h('div.pagehead', h('h2', 'Deliveries'), h('div.row', fieldShell('Status', sel), retryBtn, h('button.secondary', { type: 'button', onclick: () => render() }, 'Refresh'))),
    result,
    r.data.length
      ? h(
          'div.tablewrap',
          h('table', h('caption.sr', 'Deliveries of this destination, newest first'), h('thead', h('tr', h('th', { scope: 'col' }, all), ['Event', 'Status', 'Attempts', 'Last error', 'Updated'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', rows)),
        )
      : h('p.empty', status ? `No ${status} deliveries.` : 'No deliveries yet. They appear here once an event is published to a topic this destination subscribes to.'),
    r.next_cursor ? h('p', h('a', { href: `#/destinations/${encodeURIComponent(d.id)}${qs({ status, cursor: r.next_cursor })}` }, 'Older deliveries →')) : null,
  );
}

function bulkRetry(d) {
  const since = h('input', { type: 'datetime-local', id: nextId() });
  const until = h('input', { type: 'datetime-local', id: nextId() });
  const out = h('div', { 'aria-live': 'polite' });
  const iso = (v) => (v ? new Date(v).toISOString() : undefined);
  return h(
    'form.card',
    {
      async onsubmit(e) {
        e.preventDefault();
        if (since.value && until.value && new Date(since.value) > new Date(until.value)) return out.replaceChildren(errorBox('"From" must be before "until".'));
        try {
          const body = {};
          if (since.value) body.since = iso(since.value);
          if (until.value) body.until = iso(until.value);
          const r = await api('POST', tpath('destinations', d.id, 'retry'), body);
          out.replaceChildren(h('p.ok', r.count ? `${r.count} failed ${r.count === 1 ? 'delivery' : 'deliveries'} queued for retry${r.more ? '; more remain: run it again' : ''}.` : 'No failed deliveries in that range.'));
        } catch (err) {
          out.replaceChildren(errorBox(err));
        }
      },
    },
    h('h2', 'Retry failures in a time range'),
    h('div.grid2', fieldShell('From (local time)', since, { hint: 'Empty: from the oldest.' }), fieldShell('Until (local time)', until, { hint: 'Empty: up to now.' })),
    h('button', { type: 'submit' }, 'Retry failed deliveries'),
    out,
  );
}

async function chartSection(d, windowKey, baseHash) {
  const { intervals, windowMs, fromStats } = await intervalsFor(d, windowKey);
  const tabs = h(
    'div.row',
    { role: 'group', 'aria-label': 'Time window' },
    ['1h', '24h'].map((w) => h('a.button.small', { href: `${baseHash}${qs({ window: w })}`, class: w === windowKey ? '' : 'secondary', 'aria-current': w === windowKey ? 'true' : null }, w === '1h' ? 'Last hour' : 'Last day')),
  );
  const hasLatency = intervals.some((b) => b.p50 !== null);
  return h(
    'div.card',
    h('div.pagehead', h('h2', `Deliveries and latency: ${d.name || d.id}`), tabs),
    deliveryBars(intervals, windowMs, 'Deliveries per interval'),
    hasLatency ? latencyLines(intervals, windowMs, 'Latency percentiles (ms)') : h('p.hint', fromStats ? 'No latency figures in this window yet.' : 'Latency percentiles need the per-destination stats API, which this Sluice does not have; the counts above come from the delivery list.'),
  );
}

// ---- destination form -------------------------------------------------------------------

async function destinationForm(id, q) {
  const [types, topics, existing] = await Promise.all([catalogue(), topicNames(), id ? api('GET', tpath('destinations', id)) : null]);
  const templates = existing ? null : await optional('templates', () => api('GET', '/v1/templates')).catch(() => null);
  const alert = q.alert === '1';
  const out = h('section');
  out.append(h('h1', existing ? `Edit ${existing.name || existing.id}` : alert ? 'New alert channel' : 'New destination'));
  const status = h('div', { 'aria-live': 'polite' });

  // Type (fixed once created).
  const typeSel = h('select', { id: 'dest-type', disabled: !!existing }, types.map((t) => h('option', { value: t.type }, `${t.title} (${t.type})`)));
  typeSel.value = existing?.type || q.type || 'webhook';
  const typeHelp = h('p.hint', { id: 'dest-type-desc' });

  // Templates, when the server has them.
  let templateSel = null;
  const tplList = templates?.data || (Array.isArray(templates) ? templates : null);
  if (tplList?.length) {
    templateSel = h('select', { id: nextId() }, h('option', { value: '' }, 'No template'), tplList.map((t) => h('option', { value: t.id || t.name }, t.title || t.name || t.id)));
    templateSel.addEventListener('change', () => {
      const t = tplList.find((x) => (x.id || x.name) === templateSel.value);
      if (t?.type && types.some((x) => x.type === t.type)) {
        typeSel.value = t.type;
        renderConfig(t.config || t.example);
      }
    });
  }

  const name = h('input', { type: 'text', id: nextId(), maxLength: 128, value: existing?.name || '' });
  const topicsInput = h('input', { type: 'text', id: nextId(), list: 'topic-list', autocomplete: 'off', value: (existing?.topics || (alert ? [ALERT_TOPIC] : [])).join(', ') });
  const topicList = h('datalist', { id: 'topic-list' }, topics.map((t) => h('option', { value: t })));
  const enabled = h('input', { type: 'checkbox', id: nextId() });
  enabled.checked = existing ? existing.enabled : true;

  const configBox = h('div');
  let config = null;
  const renderConfig = (value) => {
    const t = types.find((x) => x.type === typeSel.value);
    typeHelp.textContent = t?.description || '';
    config = schemaForm(t.config_schema, value, 'config');
    configBox.replaceChildren(h('fieldset', h('legend', `${t.title} settings`), config.el));
  };
  renderConfig(existing?.config);
  typeSel.addEventListener('change', () => renderConfig(undefined));

  const settingsValue = existing ? { timeout_ms: existing.timeout_ms, retry: existing.retry, circuit_breaker: existing.circuit_breaker, disable_after_failures: existing.disable_after_failures, rate_limit: existing.rate_limit ?? undefined, max_in_flight: existing.max_in_flight, lanes: existing.lanes } : undefined;
  const settings = schemaForm(SETTINGS_SCHEMA, settingsValue, '');

  // Filter editor with a test on a sample event.
  const filter = h('textarea.code', { id: nextId(), rows: 5, spellcheck: 'false', placeholder: '{"data": {"amount": {"$gte": 100}}}' });
  if (existing?.filter) filter.value = pretty(existing.filter);
  const sample = h('textarea.code', { id: nextId(), rows: 5, spellcheck: 'false' });
  sample.value = pretty({ id: 'evt_sample', topic: topics[0] || 'order.created', time: new Date().toISOString(), metadata: {}, data: { amount: 250, currency: 'EUR' } });
  const testOut = h('div', { 'aria-live': 'polite' });
  const filterFields = new Map();
  const filterShell = fieldShell('Payload filter (JSON)', filter, { hint: 'Hookdeck filter syntax, matched against the whole event {id, topic, time, metadata, data}; operators $eq $neq $gt $gte $lt $lte $in $nin $startsWith $endsWith $exist $ref (e.g. {"$ref": "data.price"}) $and $or $not, plus $contains and $regex (at most 8). Empty: every event of the topics.', fields: filterFields, path: 'filter' });
  const sampleShell = fieldShell('Sample event (JSON)', sample, { fields: filterFields, path: 'event' });
  const parseJson = (el, what, path) => {
    const raw = el.value.trim();
    if (!raw) return { value: undefined };
    try {
      return { value: JSON.parse(raw) };
    } catch (e) {
      filterFields.get(path).show(`${what} is not valid JSON: ${e.message}`);
      return { error: true };
    }
  };
  const testBtn = h(
    'button.secondary',
    {
      type: 'button',
      async onclick() {
        for (const f of filterFields.values()) f.show(null);
        testOut.replaceChildren();
        const f = parseJson(filter, 'The filter', 'filter');
        const ev = parseJson(sample, 'The sample event', 'event');
        if (f.error || ev.error) return;
        if (f.value === undefined) return testOut.replaceChildren(h('p.ok', 'No filter: every event of the subscribed topics is delivered.'));
        try {
          const r = await api('POST', '/v1/filters/test', { filter: f.value, event: ev.value ?? {} });
          testOut.replaceChildren(r.matches ? h('p.ok', '✓ The sample event matches: it would be delivered.') : h('p.warn', '✗ The sample event does not match: it would be recorded as filtered.'));
        } catch (err) {
          const unmatched = err.fields.filter((e) => {
            const target = findField(filterFields, e.field);
            target?.show(e.message);
            return !target;
          });
          if (unmatched.length || !err.fields.length) testOut.replaceChildren(errorBox(err));
        }
      },
    },
    'Test this filter on the sample event',
  );

  const submit = h('button', { type: 'submit' }, existing ? 'Save changes' : alert ? 'Create alert channel' : 'Create destination');
  const form = h(
    'form.card',
    {
      novalidate: true,
      async onsubmit(e) {
        e.preventDefault();
        status.replaceChildren();
        for (const f of filterFields.values()) f.show(null);
        const errors = [...config.validate(), ...settings.validate()];
        const f = parseJson(filter, 'The filter', 'filter');
        if (errors.length || f.error) {
          status.replaceChildren(errorBox(`Please correct the ${errors.length + (f.error ? 1 : 0) === 1 ? 'field' : 'fields'} marked below.`));
          config.focusFirstError();
          return;
        }
        const body = { type: typeSel.value, config: config.value() ?? {}, enabled: enabled.checked };
        if (name.value.trim()) body.name = name.value.trim();
        const tl = topicsInput.value.split(',').map((s) => s.trim()).filter(Boolean);
        if (tl.length) body.topics = tl;
        Object.assign(body, settings.value() || {});
        if (f.value !== undefined) body.filter = f.value;
        if (templateSel?.value) body.template = templateSel.value;
        submit.disabled = true;
        try {
          if (existing) {
            const before = { ...settingsValue, name: existing.name ?? undefined, topics: existing.topics, enabled: existing.enabled, config: existing.config, filter: existing.filter ?? undefined };
            const after = { ...body };
            delete after.type;
            if (!after.name) after.name = undefined;
            if (!after.topics) after.topics = ['*'];
            const patch = mergeDiff(before, after, ['filter', 'topics']);
            const r = await api('PATCH', tpath('destinations', existing.id), patch);
            if (r.signing_secret) revealOnce = { id: r.id, secret: r.signing_secret };
            toast('Saved');
            go(`#/destinations/${encodeURIComponent(existing.id)}`);
          } else {
            const r = await api('POST', tpath('destinations'), body);
            if (r.signing_secret) revealOnce = { id: r.id, secret: r.signing_secret };
            toast(alert ? 'Alert channel created' : 'Destination created');
            go(`#/destinations/${encodeURIComponent(r.id)}`);
          }
        } catch (err) {
          submit.disabled = false;
          const top = { name: nameShell, topics: topicsShell, enabled: null };
          for (const x of err.fields) {
            const field = String(x.field || '');
            const k = field.split(/[.[]/)[0];
            if (k === 'config') config.showErrors([x]);
            else if (k === 'filter') filterFields.get('filter').show(x.message);
            else if (top[k]) showTopError(top[k], x.message);
            else settings.showErrors([x]);
          }
          status.replaceChildren(errorBox(err.fields.length ? `The server refused some fields: ${err.fields.map((x) => `${x.field}: ${x.message}`).join('; ')}` : explain(err)));
          (form.querySelector('[aria-invalid="true"]') || status).focus?.();
        }
      },
    },
  );
  // The summary of a refused submit goes once the person edits again (field errors stay until fixed).
  form.addEventListener('input', () => status.replaceChildren());
  const nameShell = fieldShell('Name', name, { hint: 'Optional; shown in lists.' });
  const topicsShell = fieldShell('Topics', topicsInput, { hint: `Comma-separated: exact names, "prefix.*", or "*" (every topic; the default).${alert ? ' Alert channels subscribe to sluice.alert.*.' : ''}` });
  form.append(
    status,
    h('div.grid2', h('div', fieldShell('Type', typeSel), typeHelp), templateSel ? fieldShell('Template', templateSel, { hint: 'Start from one of the server\'s templates.' }) : h('div')),
    h('div.grid2', nameShell, topicsShell),
    topicList,
    fieldShell('Enabled', enabled),
    configBox,
    h('details', { open: !!q.advanced }, h('summary', 'Delivery settings: timeout, retries, circuit breaker, rate limit'), settings.el),
    h('fieldset', h('legend', 'Payload filter'), h('div.grid2', filterShell, sampleShell), testBtn, testOut),
    h('div.row', submit, h('a.button.secondary', { href: existing ? `#/destinations/${encodeURIComponent(existing.id)}` : '#/destinations' }, 'Cancel')),
  );
  out.append(form);
  return out;
}

function showTopError(shell, msg) {
  const err = shell.querySelector('.err');
  err.hidden = false;
  err.textContent = msg;
  shell.querySelector('input,select,textarea')?.setAttribute('aria-invalid', 'true');
}

// ---- events -----------------------------------------------------------------------------

const STATUSES = ['pending', 'delivered', 'failed', 'skipped', 'filtered'];

async function eventsPage(q) {
  const [dests, topics] = await Promise.all([destinationsAll(), topicNames()]);
  const f = {
    topic: h('input', { type: 'text', id: nextId(), list: 'ev-topics', value: q.topic || '' }),
    status: h('select', { id: nextId() }, h('option', { value: '' }, 'Any'), STATUSES.map((s) => h('option', { value: s }, s))),
    destination_id: h('select', { id: nextId() }, h('option', { value: '' }, 'Any'), dests.map((d) => h('option', { value: d.id }, d.name || d.id))),
    since: h('input', { type: 'datetime-local', id: nextId(), value: toLocalInput(q.since) }),
    until: h('input', { type: 'datetime-local', id: nextId(), value: toLocalInput(q.until) }),
    contains: h('input', { type: 'search', id: nextId(), value: q.contains || '' }),
    order: h('select', { id: nextId() }, h('option', { value: 'desc' }, 'Newest first'), h('option', { value: 'asc' }, 'Oldest first')),
  };
  f.status.value = q.status || '';
  f.destination_id.value = q.destination_id || '';
  f.order.value = q.order || 'desc';
  const params = { topic: q.topic, status: q.status, destination_id: q.destination_id, since: q.since, until: q.until, contains: q.contains, order: q.order, cursor: q.cursor, limit: 25 };
  const filters = h(
    'form.card.filters',
    {
      role: 'search',
      onsubmit(e) {
        e.preventDefault();
        const iso = (v) => (v ? new Date(v).toISOString() : '');
        go(`#/events${qs({ topic: f.topic.value.trim(), status: f.status.value, destination_id: f.destination_id.value, since: iso(f.since.value), until: iso(f.until.value), contains: f.contains.value.trim(), order: f.order.value === 'desc' ? '' : f.order.value })}`);
      },
    },
    h('datalist', { id: 'ev-topics' }, topics.map((t) => h('option', { value: t }))),
    h(
      'div.grid4',
      fieldShell('Topic', f.topic),
      fieldShell('Delivery status', f.status),
      fieldShell('Destination', f.destination_id),
      fieldShell('Payload contains', f.contains),
      fieldShell('From', f.since),
      fieldShell('Until', f.until),
      fieldShell('Sort', f.order),
    ),
    h('div.row', h('button', { type: 'submit' }, 'Search'), h('a.button.secondary', { href: '#/events' }, 'Clear')),
  );
  let list;
  try {
    list = await api('GET', tpath('events') + qs(params));
  } catch (err) {
    return h('section', h('h1', 'Events'), filters, errorBox(err));
  }
  const searching = ['topic', 'status', 'destination_id', 'since', 'until', 'contains'].some((k) => q[k]);
  const rows = list.data.map((e) =>
    h(
      'tr',
      h('td', h('a', { href: `#/events/${encodeURIComponent(e.id)}` }, e.id)),
      h('td', e.topic),
      h('td', Object.entries(e.deliveries || {}).map(([s, n]) => [badge(`${n} ${s}`, s), ' ']), Object.keys(e.deliveries || {}).length ? null : h('span.muted.small', 'no destination')),
      h('td', { title: when(e.created_at) }, ago(e.created_at)),
    ),
  );
  return h(
    'section',
    h('div.pagehead', h('h1', 'Events'), h('button.secondary', { type: 'button', onclick: () => render() }, 'Refresh')),
    filters,
    list.data.length
      ? h('div.tablewrap', h('table', h('caption.sr', 'Events'), h('thead', h('tr', ['Event', 'Topic', 'Deliveries', 'Published'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', rows)))
      : h('p.empty', searching ? 'No event matches these filters.' : 'No events yet. Publish one with POST /v1/publish and it shows up here.'),
    h(
      'div.row',
      q.cursor ? h('a.button.secondary', { href: `#/events${qs({ ...q, cursor: '' })}` }, '← First page') : null,
      list.next_cursor ? h('a.button.secondary', { href: `#/events${qs({ ...q, cursor: list.next_cursor })}` }, 'Next page →') : null,
    ),
  );
}

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

async function eventPage(q, id) {
  const [e, dests] = await Promise.all([api('GET', tpath('events', id)), destinationsAll().catch(() => [])]);
  const names = Object.fromEntries(dests.map((d) => [d.id, d.name || d.id]));
  const failed = e.deliveries.filter((d) => d.status === 'failed').length;
  const retryEvent = failed
    ? h('button', {
        type: 'button',
        async onclick() {
          try {
            const r = await api('POST', tpath('events', id, 'retry'));
            toast(`${r.count ?? failed} failed ${failed === 1 ? 'delivery' : 'deliveries'} queued for retry`);
            refreshLater(1500);
          } catch (err) {
            toast(explain(err));
          }
        },
      }, `Retry every failed delivery (${failed})`)
    : null;
  return h(
    'section',
    h('div.pagehead', h('div', h('h1', `Event ${e.id}`), h('p.muted', e.topic, ' · published ', when(e.created_at))), h('div.row', retryEvent, h('button.secondary', { type: 'button', onclick: () => render() }, 'Refresh'))),
    h('div.grid2', h('div.card', h('h2', 'Payload'), h('pre.code.payload', pretty(e.data))), h('div.card', h('h2', 'Metadata'), h('dl', h('dt', 'ID'), h('dd', e.id), h('dt', 'Topic'), h('dd', e.topic), h('dt', 'Published'), h('dd', when(e.created_at))), h('pre.code', pretty(e.metadata)))),
    h('h2', 'Deliveries'),
    e.deliveries.length ? e.deliveries.map((d) => deliveryCard(d, names)) : h('p.empty', 'No destination of this tenant subscribes to this topic, so nothing was delivered.'),
  );
}

function deliveryCard(d, names) {
  const retry =
    d.status === 'failed' || d.status === 'delivered'
      ? h('button.small', {
          type: 'button',
          class: d.status === 'delivered' ? 'secondary' : null,
          async onclick(ev) {
            ev.target.disabled = true;
            try {
              await api('POST', tpath('destinations', d.destination_id, 'deliveries', d.id, 'retry'));
              toast('Retry queued');
              refreshLater(1200);
            } catch (err) {
              ev.target.disabled = false;
              toast(explain(err));
            }
          },
        }, d.status === 'failed' ? 'Retry' : 'Send again')
      : null;
  const attempts = d.history || [];
  return h(
    'article.card.delivery',
    { 'data-delivery': d.id },
    h(
      'div.pagehead',
      h('h3', h('a', { href: `#/destinations/${encodeURIComponent(d.destination_id)}` }, names[d.destination_id] || d.destination_id), ' ', badge(d.status)),
      retry,
    ),
    h('p.small.muted', `Delivery ${d.id} · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`, d.next_attempt_at ? ` · next attempt ${when(d.next_attempt_at)}` : '', d.manual_retries ? ` · ${d.manual_retries} manual retr${d.manual_retries === 1 ? 'y' : 'ies'}` : ''),
    d.last_error ? h('p.err', `Last error: ${d.last_error}`) : null,
    attempts.length
      ? h(
          'div.tablewrap',
          h(
            'table.attempts',
            h('caption.sr', `Attempts of delivery ${d.id}`),
            h('thead', h('tr', ['#', 'When', 'Trigger', 'Outcome', 'Status', 'Time', 'Error and response'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', attempts.map(attemptRow)),
          ),
        )
      : h('p.small.muted', d.status === 'pending' ? 'Queued; no attempt yet.' : 'No attempt was made.'),
  );
}

function attemptRow(a) {
  const headers = a.request_headers || a.headers;
  const detail = [];
  if (a.error) detail.push(h('div.err', a.error));
  if (a.response_body) detail.push(h('details', h('summary', 'Response'), h('pre.code', a.response_body)));
  if (headers && typeof headers === 'object') {
    const entries = Array.isArray(headers) ? headers.map((x) => (Array.isArray(x) ? x : [x.name, x.value])) : Object.entries(headers);
    detail.push(h('details', h('summary', 'Request headers'), h('pre.code', entries.map(([k, v]) => `${k}: ${v}`).join('\n'))));
  }
  return h(
    'tr',
    { 'data-outcome': a.outcome, 'data-trigger': a.trigger },
    h('td.num', String(a.attempt)),
    h('td', { title: when(a.started_at) }, ago(a.started_at)),
    h('td', a.trigger, a.requested_by ? h('div.small.muted', a.requested_by) : null),
    h('td', badge(a.outcome)),
    h('td.num', a.status_code ? String(a.status_code) : '—'),
    h('td.num', a.duration_ms !== null && a.duration_ms !== undefined ? `${a.duration_ms} ms` : '—'),
    h('td', detail.length ? detail : h('span.muted', '—')),
  );
}

// ---- charts -----------------------------------------------------------------------------

async function chartsPage(q) {
  const windowKey = q.window === '24h' ? '24h' : '1h';
  const dests = await destinationsAll();
  if (!dests.length) return h('section', h('h1', 'Charts'), h('p.empty', 'No destinations yet, so nothing to chart. ', h('a', { href: '#/destinations/new' }, 'Create one.')));
  const sections = await Promise.all(dests.slice(0, 20).map((d) => chartSection(d, windowKey, '#/charts').catch((err) => h('div.card', h('h2', d.name || d.id), errorBox(err)))));
  return h('section', h('h1', `Charts: last ${windowKey === '1h' ? 'hour' : 'day'}`), dests.length > 20 ? h('p.hint', 'The first 20 destinations.') : null, sections);
}

// ---- alert channels ---------------------------------------------------------------------

const isAlert = (d) => (d.topics || []).some((t) => t === '*' ? false : t.startsWith('sluice.alert'));

async function alertsPage() {
  const list = (await destinationsAll()).filter(isAlert);
  const out = h('div', { 'aria-live': 'polite' });
  // Each channel gets a sample alert through its own type and credentials (POST …/test):
  // nothing is queued or recorded, and the answer says what the service said.
  const test = list.length
    ? h('button.secondary', {
        type: 'button',
        async onclick() {
          out.replaceChildren(h('p.muted', 'Sending…'));
          const results = await Promise.all(list.map(async (d) => {
            try {
              const r = await api('POST', `/v1/tenants/${encodeURIComponent(session.tenant())}/destinations/${encodeURIComponent(d.id)}/test`);
              return { d, r };
            } catch (err) {
              return { d, err };
            }
          }));
          const ok = results.filter((x) => x.r && x.r.ok).length;
          out.replaceChildren(
            h(ok === results.length ? 'p.ok' : 'p.error', `Test alert: ${ok} of ${results.length} channel${results.length === 1 ? '' : 's'} accepted it.`),
            h('ul', results.filter((x) => !(x.r && x.r.ok)).map((x) => h('li', `${x.d.name || x.d.id}: `, x.err ? errorBox(x.err) : `${x.r.error || 'refused'}${x.r.status_code ? ` (HTTP ${x.r.status_code})` : ''}`))),
          );
        },
      }, 'Send a test alert')
    : null;
  return h(
    'section',
    h('div.pagehead', h('h1', 'Alert channels'), h('div.row', test, h('a.button', { href: '#/destinations/new?alert=1' }, 'New alert channel'))),
    h('p.muted', 'Alert channels are destinations subscribed to sluice.alert.* events (failures, an opened circuit, a disabled destination, each delivery that failed for good).'),
    out,
    list.length
      ? h('div.tablewrap', h('table', h('caption.sr', 'Alert channels'), h('thead', h('tr', ['Channel', 'Type', 'Target', 'Topics', 'State'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', list.map((d) => h('tr', h('td', h('a', { href: `#/destinations/${encodeURIComponent(d.id)}` }, d.name || d.id)), h('td', d.type), h('td.target', target(d)), h('td', d.topics.join(', ')), h('td', d.enabled ? badge('enabled') : badge('disabled')))))))
      : h('p.empty', 'No alert channel yet. ', h('a', { href: '#/destinations/new?alert=1' }, 'Create one'), ' to hear about failing destinations.'),
  );
}

// ---- start ------------------------------------------------------------------------------

let navigated = false;
window.addEventListener('hashchange', () => {
  navigated = true;
  render();
});
window.addEventListener('error', () => toast('Something went wrong in the page. Reload it and try again.'));
window.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  toast(explain(e.reason));
});
render();
