// Guards, alerts and config versions: the governed objects of the guards stage, the alerting loop and hot deploys.
import { h, append, clear } from './dom.js';
import { api, query } from './api.js';
import { PER_PAGE, cursorOf, form, notice, pager, parseJson, section, show, table } from './widgets.js';

const GUARD_TYPES = ['injection', 'pii', 'secrets', 'size', 'cost', 'regex', 'tools'];
const SCOPES = ['global', 'project', 'team', 'user', 'key', 'model'];
const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

// The guard's body as the API takes it (the listing adds `object` and `source`).
function body(guard) {
  const out = { ...guard };
  delete out.object;
  delete out.source;
  return out;
}

export async function guards(ctx, main) {
  const cursor = cursorOf();
  const list = await api('GET', '/admin/v1/guards' + query({ limit: PER_PAGE, cursor }));
  const editor = h('div', { 'aria-live': 'polite' });
  const tested = h('div', { 'aria-live': 'polite' });
  // the API's rule: a system admin manages any guard made here, a project admin those of its project
  const manages = (g) => g.source === 'api' && (ctx.isSystemAdmin || (g.scope === 'project' && ctx.role(g.match) === 'admin'));
  const adminOf = ctx.isSystemAdmin ? null : Object.entries(ctx.session.project_roles).filter(([, r]) => r === 'admin').map(([id]) => id);
  const edit = (g) => {
    clear(editor).append(form({
      title: `Edit guard ${g.name}`, submit: 'Save guard',
      fields: [{ name: 'json', label: 'The guard (JSON, as in the config file\u2019s guards:)', type: 'textarea', rows: 10, value: JSON.stringify(body(g), null, 2) }],
      onSubmit: async (v) => { await api('PUT', '/admin/v1/guards/' + encodeURIComponent(g.name), parseJson(v.json, 'json')); ctx.reload(); },
    }));
    editor.querySelector('textarea').focus();
  };
  append(main, [
    list.warnings?.length ? notice(list.warnings.join(' '), 'error') : null,
    section('Guards', table({
      caption: 'Guards',
      columns: [{ key: 'name', label: 'Name' }, { key: 'type', label: 'Type' }, { key: 'on', label: 'On' }, { key: 'action', label: 'Action' }, { key: 'scope', label: 'Scope' }, { key: 'match', label: 'Match' }, { key: 'sensitivity', label: 'Sensitivity' }, { key: 'source', label: 'Source' }],
      rows: list.data,
      empty: 'No guard applies to what you may see.',
      actions: (g) => manages(g) && [
        h('button', { type: 'button', onclick: () => edit(g) }, 'Edit'),
        h('button', { type: 'button', class: 'danger', onclick: async () => { if (confirm(`Delete guard ${g.name}?`)) { await api('DELETE', '/admin/v1/guards/' + encodeURIComponent(g.name)); ctx.reload(); } } }, 'Delete'),
      ],
    }), pager('/ui/guards', { cursor }, list.next_cursor)),
    editor,
    (ctx.isSystemAdmin || adminOf.length > 0) && form({
      title: 'New guard', submit: 'Create guard',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'type', label: 'Type', type: 'select', options: GUARD_TYPES },
        { name: 'on', label: 'On', type: 'select', options: ['request', 'response', 'both'] },
        { name: 'action', label: 'Action', type: 'select', options: ['block', 'redact', 'pseudonymize', 'warn'] },
        ctx.isSystemAdmin
          ? { name: 'scope', label: 'Scope', type: 'select', options: SCOPES }
          : { name: 'scope', label: 'Scope', type: 'select', options: ['project'] },
        ctx.isSystemAdmin
          ? { name: 'match', label: 'Match (one scope value; empty: every value)' }
          : { name: 'match', label: 'Project', type: 'select', options: adminOf },
        { name: 'patterns', label: 'Patterns (regex guards: one a line)', type: 'textarea', rows: 3 },
        { name: 'max_chars', label: 'Max characters (size guards)', type: 'number' },
      ],
      onSubmit: async (v) => {
        const g = { name: v.name, type: v.type, on: v.on, action: v.action, scope: v.scope };
        if (v.match) g.match = v.match;
        if (lines(v.patterns).length) g.patterns = lines(v.patterns);
        if (v.max_chars) g.max_chars = Number(v.max_chars);
        await api('POST', '/admin/v1/guards', g);
        ctx.reload();
      },
    }),
    form({
      title: 'Test guards', submit: 'Run guards',
      fields: [
        { name: 'text', label: 'Text to scan', type: 'textarea', rows: 4, required: true },
        { name: 'guards', label: 'Guards (comma-separated names; empty: every guard you see)' },
      ],
      onSubmit: async (v) => {
        const req = { text: v.text };
        if (v.guards) req.guards = v.guards.split(',').map((s) => s.trim()).filter(Boolean);
        const r = await api('POST', '/admin/v1/guards/test', req);
        clear(tested).append(section(r.blocked ? 'Result: blocked' : 'Result: passed',
          table({ caption: 'Findings', columns: ['guard', 'type', 'action', 'entity', 'start', 'end', 'snippet'].map((key) => ({ key })), rows: r.findings, empty: 'No findings.' }),
          h('p', { class: 'muted' }, `took ${r.took_ms} ms`)));
      },
    }),
    tested,
  ]);
}

export async function alerts(ctx, main) {
  const list = await api('GET', '/admin/v1/alerts');
  const firing = list.alerts.filter((a) => a.firing.length);
  append(main, [
    firing.length ? notice(`Firing now: ${firing.map((a) => `${a.name} (${a.firing.map((s) => s || 'global').join(', ')})`).join('; ')}`, 'error') : notice('No alert is firing.'),
    section('Alerts', table({
      caption: 'Alerts',
      columns: [{ key: 'name', label: 'Name' }, { key: 'signal', label: 'Signal' }, { key: 'scope', label: 'Scope' }, { key: 'match', label: 'Match' }, { key: 'detector', label: 'Detector' }, { key: 'window_s', label: 'Window (s)' }, { key: 'firing', label: 'Firing for', render: (a) => a.firing.length ? a.firing.map((s) => s || 'global').join(', ') : 'not firing' }],
      rows: list.alerts,
      empty: 'No alert is configured (alerts: in the config file).',
    })),
    section('Recent firings', table({
      caption: 'Recent firings',
      columns: ['fired_at', 'alert', 'series', 'signal', 'value', 'baseline', 'score', 'notified'].map((key) => ({ key })),
      rows: list.firings,
      empty: 'No alert has fired.',
    })),
    h('p', { class: 'muted' }, 'Alerts are defined in the config file (docs/alerts.md); apply a new version on the Config page.'),
  ]);
}

export async function config(ctx, main) {
  const list = await api('GET', '/admin/v1/config/versions');
  const [latest] = list.data;
  append(main, [
    latest ? notice(`Running config version ${latest.version} (sha256 ${latest.sha256.slice(0, 12)}…), applied by ${latest.actor}.`) : notice('No config has been applied through the API: the workers run their config file.'),
    section('Config versions', table({
      caption: 'Config versions',
      columns: [{ key: 'version', label: 'Version' }, { key: 'sha256', label: 'SHA-256' }, { key: 'actor', label: 'Applied by' }, { key: 'applied_at', label: 'Applied at', render: (r) => show(r.applied_at) }],
      rows: list.data,
      empty: 'No versions yet.',
    })),
    ctx.isSystemAdmin && form({
      title: 'Apply a config', submit: 'Validate and apply',
      fields: [{ name: 'yaml', label: 'The whole config file (YAML); its store and redis must be the running cluster\u2019s', type: 'textarea', rows: 14, required: true }],
      onSubmit: async (v, el) => {
        const r = await api('POST', '/admin/v1/config/versions', { yaml: v.yaml });
        el.append(notice(`Applied as version ${r.version}.`));
        await ctx.reload();
      },
    }),
  ]);
}
