// Forms generated from JSON Schemas (the type catalogue's `config_schema`, and the delivery
// settings below): labelled inputs, field-level checks before submit, and the server's
// problem+json `errors[].field` shown beside the field it names.

import { h, nextId, pretty } from './lib.js';

const ACRONYMS = { url: 'URL', id: 'ID', ms: '(ms)', api: 'API', aws: 'AWS', uri: 'URI', tls: 'TLS' };
export const humanize = (key) =>
  String(key)
    .split('_')
    .map((w, i) => ACRONYMS[w] || (i ? w : w.charAt(0).toUpperCase() + w.slice(1)))
    .join(' ');

const isEmpty = (v) => v === undefined || v === '' || (typeof v === 'object' && v !== null && !Array.isArray(v) && !Object.keys(v).length);

/** The settings every destination type shares, as a schema for the same form builder. */
export const SETTINGS_SCHEMA = {
  type: 'object',
  properties: {
    timeout_ms: { type: 'integer', minimum: 100, maximum: 60000, default: 10000, title: 'Timeout (ms)' },
    retry: {
      type: 'object',
      title: 'Retries',
      properties: {
        max_retries: { type: 'integer', minimum: 0, maximum: 50, default: 5 },
        backoff: {
          title: 'Backoff',
          oneOf: [
            { type: 'object', required: ['type', 'intervals_ms'], properties: { type: { const: 'schedule' }, intervals_ms: { type: 'array', items: { type: 'integer', minimum: 0 }, title: 'Waits (ms)', description: 'One wait per retry, comma-separated; the last one repeats.' } } },
            { type: 'object', required: ['type', 'interval_ms'], properties: { type: { const: 'fixed' }, interval_ms: { type: 'integer', minimum: 0, title: 'Wait (ms)' } } },
            { type: 'object', required: ['type', 'interval_ms'], properties: { type: { const: 'linear' }, interval_ms: { type: 'integer', minimum: 0, title: 'Step (ms)' } } },
            { type: 'object', required: ['type', 'initial_ms', 'factor', 'max_ms'], properties: { type: { const: 'exponential' }, initial_ms: { type: 'integer', minimum: 0, title: 'First wait (ms)' }, factor: { type: 'number', minimum: 1, default: 2 }, max_ms: { type: 'integer', minimum: 0, title: 'Longest wait (ms)' } } },
          ],
        },
        jitter: { type: 'number', minimum: 0, maximum: 1, default: 0.1, description: 'Each wait is spread over ± this fraction.' },
      },
    },
    circuit_breaker: {
      type: 'object',
      title: 'Circuit breaker',
      properties: {
        failure_threshold: { type: 'integer', minimum: 1, default: 5, description: 'Consecutive transient failures that open the circuit.' },
        cooldown_ms: { type: 'integer', minimum: 100, maximum: 86400000, default: 60000, title: 'Cooldown (ms)' },
      },
    },
    disable_after_failures: { type: 'integer', minimum: 0, maximum: 10000, default: 50, description: 'Consecutive failed attempts before the destination is disabled; 0 = never.' },
    rate_limit: { type: 'object', title: 'Rate limit', properties: { per_second: { type: 'number', exclusiveMinimum: 0, description: 'Deliveries per second at most.' } } },
    max_in_flight: { type: 'integer', minimum: 1, maximum: 50, default: 1, description: 'Requests at the same time.' },
    lanes: { type: 'integer', minimum: 1, maximum: 16, default: 1, description: 'Schedulers the deliveries are spread over (at most max_in_flight; 1 for WebSocket). Each sends at most 6 requests at once.' },
  },
};

/**
 * Builds a form for `schema` at `path` (e.g. "config"), prefilled with `value`.
 * Returns {el, value(), validate() -> errors[], showErrors(errors) -> unmatched[]}.
 */
export function schemaForm(schema, value, path, { legend } = {}) {
  const fields = new Map(); // path -> {show(msg), focus()}
  const node = build(schema, path, value, { required: true, fields, label: legend, top: true });
  return {
    el: node.el,
    value: () => node.get(),
    validate() {
      clear(fields);
      const errors = [];
      node.check(errors);
      for (const e of errors) fields.get(e.field)?.show(e.message);
      return errors;
    },
    /** Shows server errors beside their fields; returns those that name no field here. */
    showErrors(errors) {
      const unmatched = [];
      for (const e of errors) {
        const f = findField(fields, e.field);
        if (f) f.show(e.message);
        else unmatched.push(e);
      }
      return unmatched;
    },
    clear: () => clear(fields),
    focusFirstError() {
      for (const f of fields.values()) if (f.invalid()) return f.focus();
    },
  };
}

function clear(fields) {
  for (const f of fields.values()) f.show(null);
}

/** The field named by a server path, or its nearest ancestor ("config.auth.token", "retry.backoff.intervals_ms[2]"). */
export function findField(fields, raw) {
  let p = String(raw || '').replace(/\[\d+\]/g, '').replace(/^\//, '').replace(/\//g, '.');
  while (p) {
    if (fields.has(p)) return fields.get(p);
    const cut = p.lastIndexOf('.');
    if (cut < 0) return null;
    p = p.slice(0, cut);
  }
  return null;
}

/** A labelled field wrapper with a hint and an error slot tied to the control by ARIA. */
export function fieldShell(labelText, control, { hint, fields, path, required } = {}) {
  const id = control.id || (control.id = nextId());
  const hintId = hint ? `${id}-hint` : null;
  const errId = `${id}-err`;
  const err = h('p.err', { id: errId, hidden: true });
  control.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
  const isCheck = control.type === 'checkbox';
  const label = h('label', { for: id }, labelText);
  // The marker sits outside the label so that the field's name stays its label text.
  const mark = required && !isCheck ? h('span.req', { title: 'required' }, ' *') : null;
  const wrap = h(
    'div.field',
    { 'data-field': path || null, class: isCheck ? 'check' : null },
    isCheck ? [control, label] : [label, mark, control],
    hint ? h('p.hint', { id: hintId }, hint) : null,
    err,
  );
  if (required && !isCheck) control.setAttribute('aria-required', 'true');
  const clearOnEdit = () => {
    if (err.hidden) return;
    err.hidden = true;
    control.removeAttribute('aria-invalid');
  };
  control.addEventListener('input', clearOnEdit);
  control.addEventListener('change', clearOnEdit);
  if (fields && path) {
    fields.set(path, {
      show(msg) {
        err.hidden = !msg;
        err.textContent = msg || '';
        if (msg) control.setAttribute('aria-invalid', 'true');
        else control.removeAttribute('aria-invalid');
      },
      invalid: () => !err.hidden,
      focus: () => control.focus(),
    });
  }
  return wrap;
}

const join = (path, k) => (path ? `${path}.${k}` : k);

function discriminator(variants) {
  const first = variants[0]?.properties || {};
  return Object.keys(first).find((k) => variants.every((v) => v.properties?.[k] && 'const' in v.properties[k]));
}

function build(schema, path, value, opts) {
  const key = path.split('.').pop() || '';
  const title = schema.title || opts.label || humanize(key);
  if (schema.oneOf && discriminator(schema.oneOf)) return buildOneOf(schema, path, value, opts, title);
  if ('const' in schema) return { el: null, get: () => schema.const, check() {} };
  if (schema.enum) return buildScalar(schema, path, value, opts, title, 'enum');
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type === 'object' || schema.properties) {
    if (schema.properties) return buildObject(schema, path, value, opts, title);
    if (schema.additionalProperties && typeof schema.additionalProperties === 'object') return buildMap(schema, path, value, opts, title);
    return buildJson(schema, path, value, opts, title);
  }
  if (type === 'array') return buildScalar(schema, path, value, opts, title, 'list');
  if (type === 'boolean') return buildScalar(schema, path, value, opts, title, 'boolean');
  if (type === 'integer' || type === 'number') return buildScalar(schema, path, value, opts, title, type);
  if (type === 'string') return buildScalar(schema, path, value, opts, title, 'string');
  return buildJson(schema, path, value, opts, title);
}

function buildObject(schema, path, value, opts, title) {
  const required = new Set(schema.required || []);
  const v = value && typeof value === 'object' ? value : {};
  const children = Object.entries(schema.properties).map(([k, sub]) => [
    k,
    build(sub, join(path, k), v[k], { required: required.has(k), fields: opts.fields }),
  ]);
  const inner = children.map(([, c]) => c.el).filter(Boolean);
  const el = opts.top
    ? h('div.fields', inner)
    : h('fieldset', { 'data-field': path }, h('legend', title), schema.description ? h('p.hint', schema.description) : null, inner);
  if (opts.fields && !opts.top) {
    const err = h('p.err', { hidden: true });
    el.append(err);
    opts.fields.set(path, {
      show(m) {
        err.hidden = !m;
        err.textContent = m || '';
      },
      invalid: () => !err.hidden,
      focus: () => el.querySelector('input,select,textarea')?.focus(),
    });
  }
  const get = () => {
    const out = {};
    let given = false;
    for (const [k, c] of children) {
      const x = c.get();
      if (x === undefined) continue;
      out[k] = x;
      if (!('const' in schema.properties[k])) given = true;
    }
    return given || opts.required ? out : undefined;
  };
  return {
    el,
    get,
    check(errors) {
      // An optional object left empty is not checked; once any field is given, its required ones are.
      if (!opts.required && get() === undefined) return;
      for (const [k, c] of children) {
        if (required.has(k) && c.get() === undefined && !('const' in schema.properties[k])) errors.push({ field: join(path, k), message: 'Required' });
        else c.check(errors);
      }
    },
  };
}

function buildOneOf(schema, path, value, opts, title) {
  const disc = discriminator(schema.oneOf);
  const names = schema.oneOf.map((v) => v.properties[disc].const);
  const select = h(
    'select',
    { id: nextId() },
    opts.required ? null : h('option', { value: '' }, 'Not set'),
    names.map((n) => h('option', { value: n }, humanize(n))),
  );
  const current = value && typeof value === 'object' ? value[disc] : undefined;
  if (current !== undefined) select.value = current;
  const body = h('div.variant');
  let sub = null;
  const render = (initial) => {
    body.replaceChildren();
    for (const p of [...opts.fields.keys()]) if (p.startsWith(join(path, ''))) opts.fields.delete(p);
    const i = names.indexOf(select.value);
    sub = i < 0 ? null : build(schema.oneOf[i], path, initial, { required: true, fields: opts.fields, top: true });
    if (sub?.el) body.append(sub.el);
  };
  render(value);
  select.addEventListener('change', () => render(undefined));
  const shell = fieldShell(`${title} ${humanize(disc).toLowerCase()}`, select, { hint: schema.description, fields: opts.fields, path, required: opts.required });
  return {
    el: h('fieldset.oneof', { 'data-field': path }, h('legend', title), shell, body),
    get: () => (sub ? sub.get() : undefined),
    check(errors) {
      if (opts.required && !sub) errors.push({ field: path, message: 'Required' });
      sub?.check(errors);
    },
  };
}

function buildScalar(schema, path, value, opts, title, kind) {
  let control;
  const secret = schema['x-secret'];
  const hintParts = [schema.description];
  if (schema.default !== undefined && kind !== 'boolean') hintParts.push(`Default: ${Array.isArray(schema.default) ? schema.default.join(', ') : schema.default}.`);
  if (secret) hintParts.push('Stored encrypted; never shown again.');
  const hint = hintParts.filter(Boolean).join(' ');
  if (kind === 'enum') {
    control = h(
      'select',
      null,
      opts.required && schema.default === undefined ? null : h('option', { value: '' }, schema.default !== undefined ? `Default (${schema.default})` : 'None'),
      schema.enum.map((e) => h('option', { value: String(e) }, String(e))),
    );
    if (value !== undefined && value !== null) control.value = String(value);
  } else if (kind === 'boolean') {
    control = h('input', { type: 'checkbox' });
    control.checked = value ?? schema.default ?? false;
  } else if (kind === 'string' && (/private_key|pem/i.test(path) || /PEM/.test(schema.description || ''))) {
    control = h('textarea', { rows: 4, spellcheck: 'false', autocomplete: 'off' });
    if (value !== undefined && value !== null) control.value = value;
  } else {
    const type = kind === 'string' ? (secret ? 'password' : schema.format === 'uri' ? 'url' : schema.format === 'email' ? 'email' : 'text') : kind === 'list' ? 'text' : 'number';
    control = h('input', { type, autocomplete: secret ? 'new-password' : 'off', spellcheck: 'false' });
    if (type === 'number') {
      control.step = kind === 'integer' ? '1' : 'any';
      if (schema.minimum !== undefined) control.min = schema.minimum;
      if (schema.maximum !== undefined) control.max = schema.maximum;
    }
    if (schema.maxLength) control.maxLength = schema.maxLength;
    const ex = schema.examples?.[0];
    if (ex !== undefined && typeof ex !== 'object') control.placeholder = `e.g. ${ex}`;
    if (value !== undefined && value !== null) control.value = Array.isArray(value) ? value.join(', ') : value;
  }
  control.name = path;
  // Native constraint popups would pre-empt our messages: we check on submit ourselves.
  const had = value !== undefined && value !== null;
  const get = () => {
    if (kind === 'boolean') return control.checked === (schema.default ?? false) && !had ? undefined : control.checked;
    const raw = control.value.trim();
    if (raw === '') return undefined;
    if (kind === 'integer' || kind === 'number') return Number(raw);
    if (kind === 'list') {
      const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
      const t = schema.items?.type;
      return t === 'integer' || t === 'number' ? items.map(Number) : items;
    }
    if (kind === 'enum') {
      const e = schema.enum.find((x) => String(x) === raw);
      return e === undefined ? raw : e;
    }
    return kind === 'string' && control.tagName === 'TEXTAREA' ? control.value : raw;
  };
  const el = fieldShell(title, control, { hint, fields: opts.fields, path, required: opts.required });
  return {
    el,
    get,
    check(errors) {
      const v = get();
      const bad = (message) => errors.push({ field: path, message });
      if (v === undefined) {
        if (opts.required && kind !== 'boolean') bad('Required');
        return;
      }
      if (kind === 'integer' || kind === 'number') checkNumber(schema, v, bad);
      else if (kind === 'list') {
        const it = schema.items || {};
        if ((it.type === 'integer' || it.type === 'number') && v.some((x) => !Number.isFinite(x) || (it.type === 'integer' && !Number.isInteger(x)) || (it.minimum !== undefined && x < it.minimum)))
          bad(`Whole numbers${it.minimum !== undefined ? ` of at least ${it.minimum}` : ''}, separated by commas`);
      } else if (kind === 'string') checkString(schema, v, bad);
    },
  };
}

function checkNumber(s, v, bad) {
  if (!Number.isFinite(v)) return bad('A number');
  if (s.type === 'integer' && !Number.isInteger(v)) return bad('A whole number');
  if (s.minimum !== undefined && v < s.minimum) return bad(`At least ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) return bad(`More than ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined && v > s.maximum) return bad(`At most ${s.maximum}`);
}

function checkString(s, v, bad) {
  if (s.minLength && v.length < s.minLength) return bad(s.minLength === 1 ? 'Required' : `At least ${s.minLength} characters`);
  if (s.maxLength && v.length > s.maxLength) return bad(`At most ${s.maxLength} characters`);
  if (s.format === 'uri') {
    try {
      const u = new URL(v);
      if (!u.protocol || !u.host) throw new Error();
    } catch {
      return bad('A full URL, e.g. https://example.com/hooks');
    }
  }
  if (s.format === 'email' && !/^[^@\s]+@[^@\s]+$/.test(v)) return bad('An email address');
  if (s.pattern && v !== '********') {
    let re = null;
    try {
      re = new RegExp(s.pattern, 'u');
    } catch {
      re = null;
    }
    if (re && !re.test(v)) return bad(`Does not match the expected format (${s.pattern})`);
  }
}

/** A map of names to values (custom headers): rows of two inputs. */
function buildMap(schema, path, value, opts, title) {
  const itemSchema = schema.additionalProperties;
  const rows = h('div.rows');
  const list = [];
  const addRow = (k = '', v = '') => {
    const n = list.length + 1;
    const name = h('input', { type: 'text', value: k, id: nextId(), autocomplete: 'off', spellcheck: 'false' });
    const val = h('input', { type: itemSchema['x-secret'] ? 'password' : 'text', value: v, id: nextId(), autocomplete: 'new-password' });
    const row = { name, val };
    const del = h('button.secondary.small', { type: 'button', 'aria-label': `Remove ${title.toLowerCase()} ${n}` }, 'Remove');
    const el = h(
      'div.kv',
      h('label.sr', { for: name.id }, `${title} ${n}: name`),
      name,
      h('label.sr', { for: val.id }, `${title} ${n}: value`),
      val,
      del,
    );
    name.placeholder = 'name';
    val.placeholder = 'value';
    del.addEventListener('click', () => {
      list.splice(list.indexOf(row), 1);
      el.remove();
    });
    list.push(row);
    rows.append(el);
    return name;
  };
  for (const [k, v] of Object.entries(value || {})) addRow(k, v);
  const add = h('button.secondary.small', { type: 'button', onclick: () => addRow().focus() }, `Add ${title.toLowerCase().replace(/s$/, '')}`);
  const err = h('p.err', { hidden: true });
  const el = h('fieldset', { 'data-field': path }, h('legend', title), schema.description ? h('p.hint', schema.description) : null, rows, add, err);
  opts.fields.set(path, {
    show(m) {
      err.hidden = !m;
      err.textContent = m || '';
    },
    invalid: () => !err.hidden,
    focus: () => (list[0]?.name || add).focus(),
  });
  const get = () => {
    const out = {};
    for (const r of list) if (r.name.value.trim()) out[r.name.value.trim()] = r.val.value;
    return Object.keys(out).length ? out : undefined;
  };
  return {
    el,
    get,
    check(errors) {
      const names = list.map((r) => r.name.value.trim());
      if (list.some((r, i) => !names[i] && r.val.value)) errors.push({ field: path, message: 'Every value needs a name' });
      else if (new Set(names.filter(Boolean)).size !== names.filter(Boolean).length) errors.push({ field: path, message: 'Names must differ' });
      else if (schema.maxProperties && names.filter(Boolean).length > schema.maxProperties) errors.push({ field: path, message: `At most ${schema.maxProperties}` });
    },
  };
}

/** Anything the builder has no widget for: JSON in a text area. */
function buildJson(schema, path, value, opts, title) {
  const control = h('textarea.code', { rows: 4, spellcheck: 'false' });
  if (value !== undefined) control.value = pretty(value);
  const get = () => {
    const raw = control.value.trim();
    if (!raw) return undefined;
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  };
  const el = fieldShell(title, control, { hint: [schema.description, 'JSON.'].filter(Boolean).join(' '), fields: opts.fields, path, required: opts.required });
  return {
    el,
    get,
    check(errors) {
      const raw = control.value.trim();
      if (!raw) {
        if (opts.required) errors.push({ field: path, message: 'Required' });
        return;
      }
      try {
        JSON.parse(raw);
      } catch (e) {
        errors.push({ field: path, message: `Not valid JSON: ${e.message}` });
      }
    },
  };
}

/** A JSON merge patch (RFC 7396) turning `from` into `to`; `whole` keys are replaced, not merged. */
export function mergeDiff(from, to, whole = []) {
  const patch = {};
  for (const k of new Set([...Object.keys(from || {}), ...Object.keys(to || {})])) {
    const a = from?.[k];
    const b = to?.[k];
    if (b === undefined) {
      if (a !== undefined && a !== null) patch[k] = null;
    } else if (!whole.includes(k) && a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
      const sub = mergeDiff(a, b);
      if (!isEmpty(sub)) patch[k] = sub;
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      patch[k] = b;
    }
  }
  return patch;
}
