import { h, append, clear } from './dom.js';
import { ApiError, query } from './api.js';

let uid = 0;

// A form whose fields each have a place for the API's error: a refusal naming `param` shows its message, verbatim,
// next to that field; any other shows it at the top of the form.
export function form({ title, fields, submit, onSubmit }) {
  const slots = {};
  const general = h('p', { class: 'error', role: 'alert', hidden: true });
  const body = fields.map((f) => {
    const id = `f${++uid}`;
    const err = h('span', { class: 'error', id: id + '-err', role: 'alert' });
    slots[f.name] = err;
    let input;
    if (f.type === 'select') {
      input = h('select', { id, name: f.name }, f.options.map((o) => h('option', { value: o.value ?? o }, o.label ?? o)));
      if (f.value !== undefined) input.value = f.value;
    } else if (f.type === 'textarea') {
      input = h('textarea', { id, name: f.name, rows: f.rows || 6, required: f.required, placeholder: f.placeholder, 'aria-describedby': id + '-err', spellcheck: 'false' });
      if (f.value !== undefined) input.value = f.value;
    } else if (f.type === 'checkbox') {
      input = h('input', { id, name: f.name, type: 'checkbox', checked: f.checked, 'aria-describedby': id + '-err' });
    } else {
      input = h('input', {
        id, name: f.name, type: f.type || 'text', value: f.value, required: f.required,
        placeholder: f.placeholder, step: f.step, autocomplete: f.autocomplete, 'aria-describedby': id + '-err',
      });
    }
    return h('div', { class: 'field' }, h('label', { for: id }, f.label), input, err);
  });
  const button = h('button', { type: 'submit' }, submit || 'Save');
  const el = h('form', { class: 'card form', 'aria-label': title }, title && h('h2', {}, title), general, body, button);
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    general.hidden = true;
    Object.values(slots).forEach((s) => (s.textContent = ''));
    const values = {};
    for (const f of fields) {
      const input = el.elements[f.name];
      values[f.name] = f.type === 'checkbox' ? input.checked : f.type === 'textarea' ? input.value : input.value.trim();
    }
    button.disabled = true;
    try {
      await onSubmit(values, el);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      // the field the API named, or the field holding it (`config.region` goes beside a JSON field named `config`)
      const holder = e.param && Object.keys(slots).find((k) => e.param.startsWith(k + '.') || e.param.startsWith(k + '['));
      const field = e.param && (slots[e.param] || slots[holder]);
      if (field) field.textContent = e.message;
      else {
        general.textContent = e.message;
        general.hidden = false;
      }
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function table({ caption, columns, rows, actions, empty }) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing here yet.');
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label || c.key)), actions && h('th', { scope: 'col' }, 'Actions'));
  const body = rows.map((row) =>
    h('tr', {}, columns.map((c) => h('td', {}, c.render ? c.render(row) : show(row[c.key]))), actions && h('td', { class: 'actions' }, actions(row))),
  );
  // focusable, so a wide table scrolls from the keyboard too
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'table' }, h('table', {}, caption && h('caption', {}, caption), h('thead', {}, head), h('tbody', {}, body)));
}

// Server-side paging: the API hands back next_cursor; the page's URL carries the cursor (so every page of a table
// deep-links, and the browser's Back goes to the previous one).
export const PER_PAGE = 50; // rows a table asks the server for at a time
export const cursorOf = () => new URLSearchParams(location.search).get('cursor') || '';

export function pager(path, params, nextCursor) {
  const link = (cursor, text) => h('a', { href: path + query({ ...params, cursor }), 'data-nav': true }, text);
  if (!params.cursor && !nextCursor) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Table pages' }, params.cursor && link('', 'First page'), ' ', nextCursor && link(nextCursor, 'Next page'));
}

// A JSON value typed into a textarea; a syntax error names the field, as the API would.
export function parseJson(text, param) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, { message: `not valid JSON: ${e.message}`, param });
  }
}

export function show(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) {
    return v.replace('T', ' ').replace(/\.\d+/, '').replace(/(Z|\+00:00)$/, ' UTC'); // times: short, still UTC
  }
  if (Array.isArray(v)) return v.join(', ') || '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function cards(items) {
  return h('div', { class: 'cards' }, items.map(([label, value]) => h('div', { class: 'card stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value))));
}

// A bar that shows spent and reserved against a limit; text says the same for screen readers.
export function bar(spent, reserved, limit) {
  const pct = (x) => (limit > 0 ? Math.min(100, (100 * x) / limit) : 0);
  const label = `${fmt(spent)} spent, ${fmt(reserved)} reserved of ${fmt(limit)}`;
  // widths through the CSSOM: the CSP (style-src 'self') blocks style attributes, not this
  const part = (kind, x) => {
    const el = h('span', { class: kind });
    el.style.width = `${pct(x)}%`;
    return el;
  };
  return h('div', { class: 'bar', role: 'img', 'aria-label': label, title: label }, part('spent', spent), part('reserved', reserved));
}

// A column chart in SVG: no library, labelled for screen readers.
export function chart(title, points) {
  const w = 600, hgt = 160, max = Math.max(1e-12, ...points.map((p) => p.value));
  const step = points.length ? w / points.length : w;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  svg.setAttribute('class', 'chart');
  points.forEach((p, i) => {
    const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    const height = (p.value / max) * (hgt - 10);
    r.setAttribute('x', String(i * step + 1));
    r.setAttribute('y', String(hgt - height));
    r.setAttribute('width', String(Math.max(1, step - 2)));
    r.setAttribute('height', String(height));
    const t = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    t.textContent = `${p.label}: ${fmt(p.value)}`;
    r.append(t);
    svg.append(r);
  });
  return h('figure', { class: 'card' }, h('figcaption', {}, title), svg);
}

export function fmt(n) {
  const x = Number(n);
  if (!Number.isFinite(x)) return String(n);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3).replace(/\.?0+$/, '');
}

export function usd(s) {
  return '$' + Number(s).toFixed(Number(s) >= 1 ? 2 : 6);
}

export function notice(message, kind = 'info') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
}

export function section(title, ...children) {
  // a table named like its section: two regions of one name would be ambiguous, so the table's says it is the table
  for (const child of children.flat()) {
    if (child instanceof Element && child.classList.contains('table-wrap') && child.getAttribute('aria-label') === title) child.setAttribute('aria-label', `${title} table`);
  }
  return h('section', { class: 'card', 'aria-label': title }, h('h2', {}, title), ...children);
}

export async function guarded(target, work) {
  try {
    await work();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    append(target, [notice(e.message, 'error')]);
  }
}

export { clear };
