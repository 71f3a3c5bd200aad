import { h, append, clear, csv, download } from './dom.js';
import { api, query } from './api.js';
import { bar, cards, chart, fmt, form, guarded, notice, section, show, table, usd } from './widgets.js';

const DIMENSIONS = ['project', 'team', 'user', 'key', 'model', 'deployment', 'provider', 'day', 'month'];
const day = 86400e3;
const iso = (d) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');

const byCost = (a, b) => Number(b.cost_usd) - Number(a.cost_usd);

export async function overview(ctx, main) {
  const from = iso(Date.now() - 30 * day);
  const [days, projects, models, budgets, health] = await Promise.all([
    api('GET', '/admin/v1/usage' + query({ group_by: 'day', from })),
    api('GET', '/admin/v1/usage' + query({ group_by: 'project', from })),
    api('GET', '/admin/v1/usage' + query({ group_by: 'model', from })),
    api('GET', '/admin/v1/budgets').catch(() => ({ data: [] })),
    api('GET', '/admin/v1/usage/health' + query({ from })),
  ]);
  const hd = health.data;
  const errors = hd.reduce((n, d) => n + d.errors, 0);
  const worst = (k) => { const v = hd.map((d) => d[k]).filter((x) => x !== null); return v.length ? `${fmt(Math.max(...v))} ms` : '—'; };
  const t = days.totals;
  const s = { cost: Number(t.cost_usd), requests: t.requests, tokens: t.input_tokens + t.output_tokens };
  append(main, [
    cards([['Spend, 30 days', usd(s.cost)], ['Requests', fmt(s.requests)], ['Tokens', fmt(s.tokens)], ['Errors', fmt(errors)], ['p95 latency, worst day', worst('latency_p95_ms')], ['p95 TTFT, worst day', worst('ttft_p95_ms')]]),
    h('div', { class: 'grid' },
      chart('Spend per day (USD)', days.rows.map((r) => ({ label: r.day, value: Number(r.cost_usd) }))),
      chart('Requests per day', days.rows.map((r) => ({ label: r.day, value: r.requests }))),
      chart('Errors per day', hd.map((d) => ({ label: d.day, value: d.errors }))),
      chart('p95 latency per day (ms)', hd.map((d) => ({ label: d.day, value: d.latency_p95_ms ?? 0 }))),
    ),
    h('div', { class: 'grid' },
      section('Top projects', table({ columns: [{ key: 'project', label: 'Project' }, { key: 'requests', label: 'Requests' }, { key: 'cost_usd', label: 'Cost', render: (r) => usd(r.cost_usd) }], rows: projects.rows.sort(byCost).slice(0, 5) })),
      section('Top models', table({ columns: [{ key: 'model', label: 'Model' }, { key: 'requests', label: 'Requests' }, { key: 'cost_usd', label: 'Cost', render: (r) => usd(r.cost_usd) }], rows: models.rows.sort(byCost).slice(0, 5) })),
    ),
    section('Budgets near their caps', table({
      columns: [{ key: 'budget', label: 'Budget' }, { key: 'scope_value', label: 'Scope' }, { key: 'spent', label: 'State', render: (r) => bar(Number(r.spent), Number(r.reserved), Number(r.limit)) }],
      rows: budgets.data.filter((r) => Number(r.limit) > 0 && (Number(r.spent) + Number(r.reserved)) / Number(r.limit) >= 0.8),
      empty: 'No budget is above 80 % of its cap.',
    })),
  ]);
}

// The ledger filters behind one usage line: its dimensions, and a day or month narrowed to that bucket.
function drill(row, dims, q) {
  const f = { from: q.from, to: q.to };
  for (const d of dims) {
    if (d === 'day' || d === 'month') {
      const start = new Date(row[d] + (d === 'day' ? 'T00:00:00Z' : '-01T00:00:00Z'));
      const end = new Date(start);
      if (d === 'day') end.setUTCDate(end.getUTCDate() + 1);
      else end.setUTCMonth(end.getUTCMonth() + 1);
      f.from = iso(start);
      f.to = iso(end);
    } else if (row[d] !== null && row[d] !== undefined) f[d] = row[d];
  }
  return f;
}

// One page of ledger rows (server-paged by cursor), with a button for the next, older page.
async function ledger(target, filters, cursor) {
  const page = await api('GET', '/admin/v1/usage/ledger' + query({ ...filters, cursor, limit: 50 }));
  if (!cursor) clear(target);
  target.querySelector('.older')?.remove();
  const columns = ['ts', 'request_id', 'model', 'deployment', 'status', 'error_code', 'latency_ms', 'ttft_ms', 'input_tokens', 'output_tokens', 'cost_usd', 'cache_hit'];
  append(target, [
    section(cursor ? 'Older requests' : 'Requests', table({ columns: columns.map((key) => ({ key })), rows: page.data, empty: 'No requests.' })),
    page.next_cursor && h('button', { type: 'button', class: 'older', onclick: () => ledger(target, filters, page.next_cursor) }, 'Older requests'),
  ]);
}

export async function usage(ctx, main) {
  const params = new URLSearchParams(location.search);
  const results = h('div');
  const run = async (v) => {
    const q = { group_by: v.group_by, from: v.from && iso(v.from), to: v.to && iso(v.to), project: v.project };
    history.replaceState(null, '', location.pathname + query(v));
    const data = await api('GET', '/admin/v1/usage' + query(q));
    const dims = v.group_by ? v.group_by.split(',') : [];
    const columns = [...dims, 'requests', 'input_tokens', 'output_tokens', 'cost_usd'];
    clear(results);
    const requests = h('div', { 'aria-live': 'polite' });
    append(results, [
      h('button', { type: 'button', onclick: () => download('usage.csv', 'text/csv', csv(columns, data.rows)) }, 'Export CSV'),
      table({
        caption: 'Usage', columns: columns.map((key) => ({ key })), rows: data.rows,
        actions: (row) => h('button', { type: 'button', onclick: () => ledger(requests, drill(row, dims, q)) }, 'Requests'),
      }),
      requests,
    ]);
  };
  const initial = { group_by: params.get('group_by') || 'project', from: params.get('from') || '', to: params.get('to') || '', project: params.get('project') || '' };
  append(main, [
    form({
      title: 'Explore usage', submit: 'Show',
      fields: [
        { name: 'group_by', label: `Group by (comma-separated: ${DIMENSIONS.join(', ')})`, value: initial.group_by },
        { name: 'from', label: 'From', type: 'date', value: initial.from },
        { name: 'to', label: 'To', type: 'date', value: initial.to },
        { name: 'project', label: 'Project id', value: initial.project },
      ],
      onSubmit: run,
    }),
    results,
    form({
      title: 'Find a request', submit: 'Open',
      fields: [{ name: 'request_id', label: 'Request id (the gateway\'s)', required: true }],
      onSubmit: async (v, el) => {
        const row = await api('GET', '/admin/v1/usage/' + encodeURIComponent(v.request_id));
        el.querySelector('.detail')?.remove();
        el.append(h('div', { class: 'detail' }, table({ columns: Object.keys(row).map((key) => ({ key })), rows: [row] })));
      },
    }),
  ]);
  await guarded(results, () => run(initial));
}

export async function projects(ctx, main) {
  const list = await api('GET', '/admin/v1/projects');
  const detail = h('div', { 'aria-live': 'polite' });
  append(main, [
    ctx.isSystemAdmin && form({
      title: 'New project', submit: 'Create project',
      fields: [{ name: 'name', label: 'Name', required: true }, { name: 'cost_center', label: 'Cost centre' }],
      onSubmit: async (v) => {
        await api('POST', '/admin/v1/projects', { name: v.name, cost_center: v.cost_center || null });
        ctx.reload();
      },
    }),
    section('Projects', table({
      columns: [{ key: 'name', label: 'Name' }, { key: 'id', label: 'Id' }, { key: 'cost_center', label: 'Cost centre' }, { key: 'allowed_models', label: 'Models' }, { key: 'role', label: 'Your role', render: (p) => ctx.role(p.id) }],
      rows: list.data,
      actions: (p) => [
        h('button', { type: 'button', onclick: () => teamsAndAgents(ctx, detail, p) }, 'Teams and agents'),
        ctx.isSystemAdmin && h('button', { class: 'danger', onclick: async () => { if (confirm(`Delete project ${p.name}?`)) { await api('DELETE', '/admin/v1/projects/' + p.id); ctx.reload(); } } }, 'Delete'),
      ],
    })),
    detail,
  ]);
}

async function teamsAndAgents(ctx, target, project) {
  const base = '/admin/v1/projects/' + project.id;
  const [teams, agents] = await Promise.all([api('GET', base + '/teams'), api('GET', base + '/agents')]);
  const admin = ctx.role(project.id) === 'admin';
  const again = () => teamsAndAgents(ctx, target, project);
  clear(target);
  append(target, [
    section(`Teams of ${project.name}`, table({
      columns: [{ key: 'name', label: 'Name' }, { key: 'id', label: 'Id' }, { key: 'created_at', label: 'Created' }],
      rows: teams.data,
      actions: admin && ((t) => h('button', { class: 'danger', onclick: async () => { await api('DELETE', '/admin/v1/teams/' + t.id); again(); } }, 'Delete')),
    })),
    admin && form({ title: 'New team', submit: 'Create team', fields: [{ name: 'name', label: 'Team name', required: true }], onSubmit: async (v) => { await api('POST', base + '/teams', v); again(); } }),
    section(`Agents of ${project.name}`, table({ columns: [{ key: 'name', label: 'Name' }, { key: 'id', label: 'Id' }, { key: 'created_at', label: 'Created' }], rows: agents.data })),
    admin && form({ title: 'New agent', submit: 'Register agent', fields: [{ name: 'name', label: 'Agent name', required: true }], onSubmit: async (v) => { await api('POST', base + '/agents', v); again(); } }),
  ]);
}

export async function users(ctx, main) {
  const list = await api('GET', '/admin/v1/users');
  append(main, [
    ctx.adminsAProject && form({
      title: 'New user', submit: 'Create user',
      fields: [{ name: 'email', label: 'Email', type: 'email', required: true }, { name: 'name', label: 'Name' }],
      onSubmit: async (v) => { await api('POST', '/admin/v1/users', { email: v.email, name: v.name || null }); ctx.reload(); },
    }),
    section('Users', table({
      columns: [{ key: 'email', label: 'Email' }, { key: 'name', label: 'Name' }, { key: 'id', label: 'Id' }, { key: 'roles', label: 'Roles', render: (u) => u.roles.map((r) => `${r.role}@${r.scope}${r.scope_id ? ':' + r.scope_id : ''}`).join(', ') || '—' }],
      rows: list.data,
    })),
  ]);
}

let justCreated = null; // a new key, shown once on the next render of the keys page and then forgotten

export async function keys(ctx, main) {
  const project = new URLSearchParams(location.search).get('project') || '';
  const [list, projectList] = await Promise.all([api('GET', '/admin/v1/keys' + query({ project })), api('GET', '/admin/v1/projects')]);
  const shown = h('div', { 'aria-live': 'polite' });
  const mayCreate = projectList.data.filter((p) => ['admin', 'member'].includes(ctx.role(p.id)));
  // the admin API's rule (may_manage): an admin of the key's project or team, or a member for their own keys
  const rank = { viewer: 0, member: 1, admin: 2 };
  const best = (k) => Math.max(rank[ctx.role(k.project_id)] ?? -1, rank[(k.team_id && ctx.session.team_roles[k.team_id])] ?? -1);
  const mayChange = (k) => best(k) >= 2 || (best(k) >= 1 && k.user_id && k.user_id === ctx.session.user_id);
  const remember = async (created) => {
    justCreated = created;
    await ctx.reload();
  };
  const once = (created) => {
    clear(shown);
    const value = h('code', { class: 'secret' }, created.key);
    append(shown, [section('New key — shown once', h('p', {}, 'Copy it now: the gateway keeps only its hash.'), value,
      h('button', { type: 'button', onclick: () => navigator.clipboard.writeText(created.key).catch(() => {}) }, 'Copy'))]);
  };
  append(main, [
    shown,
    mayCreate.length > 0 && form({
      title: 'New key', submit: 'Create key',
      fields: [
        { name: 'project', label: 'Project', type: 'select', options: mayCreate.map((p) => ({ value: p.id, label: p.name })) },
        { name: 'name', label: 'Name' },
        { name: 'models', label: 'Allowed models (comma-separated; empty: the project\'s)' },
        { name: 'expires_in_days', label: 'Expires in days', type: 'number' },
      ],
      onSubmit: async (v) => {
        const body = { project: v.project };
        if (v.name) body.name = v.name;
        if (v.models) body.models = v.models.split(',').map((m) => m.trim()).filter(Boolean);
        if (v.expires_in_days) body.expires_in_days = Number(v.expires_in_days);
        await remember(await api('POST', '/admin/v1/keys', body));
      },
    }),
    section('Keys', table({
      columns: [{ key: 'prefix', label: 'Prefix' }, { key: 'name', label: 'Name' }, { key: 'status', label: 'Status' }, { key: 'project_id', label: 'Project' }, { key: 'user_id', label: 'User' }, { key: 'models', label: 'Models' }, { key: 'expires_at', label: 'Expires' }, { key: 'created_at', label: 'Created' }],
      rows: list.data,
      actions: (k) => k.status === 'active' && mayChange(k) && [
        h('button', { onclick: async () => { await remember(await api('POST', `/admin/v1/keys/${k.id}/rotate`, { overlap_hours: 24 })); } }, 'Rotate'),
        h('button', { class: 'danger', onclick: async () => { await api('POST', `/admin/v1/keys/${k.id}/revoke`); ctx.reload(); } }, 'Revoke'),
      ],
    })),
  ]);
  if (justCreated) {
    once(justCreated);
    justCreated = null;
  }
}

export async function budgets(ctx, main) {
  const list = await api('GET', '/admin/v1/budgets');
  append(main, [
    ctx.isSystemAdmin && form({
      title: 'New budget', submit: 'Create budget',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'scope', label: 'Scope', type: 'select', options: ['project', 'team', 'user', 'key', 'model', 'global'] },
        { name: 'match', label: 'Match (one scope value; empty: each its own)' },
        { name: 'window', label: 'Window', type: 'select', options: ['month', 'week', 'day'] },
        { name: 'limit_usd', label: 'Limit (USD)', type: 'number', step: 'any' },
      ],
      onSubmit: async (v) => {
        const body = { name: v.name, scope: v.scope, window: v.window };
        if (v.match) body.match = v.match;
        if (v.limit_usd) body.limit_usd = v.limit_usd;
        await api('POST', '/admin/v1/budgets', body);
        ctx.reload();
      },
    }),
    list.warnings?.length ? notice(list.warnings.join(' '), 'error') : null,
    section('Budgets', table({
      columns: [
        { key: 'budget', label: 'Budget' }, { key: 'scope', label: 'Scope' }, { key: 'scope_value', label: 'Value' },
        { key: 'spent', label: 'State', render: (r) => bar(Number(r.spent), Number(r.reserved), Number(r.limit)) },
        { key: 'spent', label: 'Spent' }, { key: 'reserved', label: 'Reserved' }, { key: 'remaining', label: 'Remaining' }, { key: 'limit', label: 'Limit' }, { key: 'unit', label: 'Unit' }, { key: 'resets_at', label: 'Resets at' },
      ],
      rows: list.data,
      empty: 'No budget has state yet.',
    })),
  ]);
  if (ctx.session.system_role) await rateLimits(ctx, main);
}

async function rateLimits(ctx, main) {
  const limits = await api('GET', '/admin/v1/rate-limits');
  append(main, [
    section('Rate limits', table({
      columns: ['name', 'scope', 'match', 'rpm', 'tpm', 'concurrent', 'algorithm', 'source'].map((key) => ({ key })),
      rows: limits.data,
      actions: ctx.isSystemAdmin && ((r) => r.source === 'api' && h('button', { class: 'danger', onclick: async () => { await api('DELETE', '/admin/v1/rate-limits/' + encodeURIComponent(r.name)); ctx.reload(); } }, 'Delete')),
    })),
    ctx.isSystemAdmin && form({
      title: 'New rate limit', submit: 'Create rate limit',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'scope', label: 'Scope', type: 'select', options: ['project', 'team', 'user', 'key', 'model', 'global'] },
        { name: 'match', label: 'Match (one scope value; empty: each its own)' },
        { name: 'rpm', label: 'Requests per minute', type: 'number' },
        { name: 'tpm', label: 'Tokens per minute', type: 'number' },
        { name: 'concurrent', label: 'Concurrent requests', type: 'number' },
      ],
      onSubmit: async (v) => {
        const body = { name: v.name, scope: v.scope };
        if (v.match) body.match = v.match;
        for (const k of ['rpm', 'tpm', 'concurrent']) if (v[k]) body[k] = Number(v[k]);
        await api('POST', '/admin/v1/rate-limits', body);
        ctx.reload();
      },
    }),
  ]);
}

export async function models(ctx, main) {
  const list = await api('GET', '/admin/v1/deployments');
  const rows = list.data;
  const columns = rows.length ? Object.keys(rows[0]).map((key) => ({ key })) : [];
  append(main, [section('Deployments', table({
    columns, rows,
    actions: ctx.isSystemAdmin && ((d) => d.canary && ['promote', 'rollback'].map((action) =>
      h('button', { onclick: async () => { await api('POST', `/admin/v1/models/${encodeURIComponent(d.model)}/canary/${action}`); ctx.reload(); } }, action))),
  }))]);
}

export async function cache(ctx, main) {
  const stats = await api('GET', '/admin/v1/cache/stats');
  const rows = stats.data;
  const columns = rows.length ? Object.keys(rows[0]).map((key) => ({ key })) : [];
  const scopes = ctx.isSystemAdmin ? ['project', 'model', 'template', 'all'] : ['project'];
  append(main, [
    section('Cache statistics', table({ columns, rows, empty: 'Nothing cached yet.' })),
    ctx.adminsAProject && form({
      title: 'Invalidate', submit: 'Invalidate',
      fields: [{ name: 'scope', label: 'Scope', type: 'select', options: scopes }, { name: 'value', label: 'Project, model or template' }],
      onSubmit: async (v, el) => {
        const result = await api('POST', '/admin/v1/cache/invalidate', v.value ? v : { scope: v.scope });
        el.append(notice(`Invalidated: ${result.scope} ${result.value ?? ''} (generation ${result.generation})`));
      },
    }),
  ]);
}

export async function audit(ctx, main) {
  const params = new URLSearchParams(location.search);
  const page = await api('GET', '/admin/v1/audit' + query({ action: params.get('action'), actor: params.get('actor'), project: params.get('project'), cursor: params.get('cursor'), limit: 50 }));
  const verdict = h('div', { 'aria-live': 'polite' });
  append(main, [
    form({
      title: 'Filter', submit: 'Filter',
      fields: [{ name: 'action', label: 'Action', value: params.get('action') || '' }, { name: 'actor', label: 'Actor', value: params.get('actor') || '' }, { name: 'project', label: 'Project id', value: params.get('project') || '' }],
      onSubmit: async (v) => ctx.go('/ui/audit' + query(v)),
    }),
    ctx.isSystemAdmin && h('button', { type: 'button', onclick: async () => {
      const r = await api('GET', '/admin/v1/audit/verify');
      clear(verdict).append(notice(r.ok ? `Chain verified: ${r.rows} rows intact.` : `Chain broken at seq ${r.seq}: ${r.problem}`, r.ok ? 'info' : 'error'));
    } }, 'Verify chain'),
    verdict,
    section('Audit trail', table({ columns: ['seq', 'ts', 'actor', 'action', 'target', 'project', 'details'].map((key) => ({ key })), rows: page.data })),
    page.next_cursor && h('a', { href: '/ui/audit' + query({ action: params.get('action'), actor: params.get('actor'), project: params.get('project'), cursor: page.next_cursor }), 'data-nav': true }, 'Older entries'),
  ]);
}

export async function chargeback(ctx, main) {
  const params = new URLSearchParams(location.search);
  const now = new Date();
  const month = params.get('month') || `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  const report = await api('GET', '/admin/v1/chargeback' + query({ month }));
  const byProject = {}, centres = {};
  for (const r of report.data) {
    const p = (byProject[r.project_id ?? '(master key)'] ??= { project_id: r.project_id ?? '(master key)', project: r.project ?? '—', cost_center: r.cost_center ?? '', requests: 0, tokens: 0, cost: 0 });
    p.requests += r.requests;
    p.tokens += r.tokens;
    p.cost += Number(r.cost_usd);
    centres[r.cost_center || '(none)'] = (centres[r.cost_center || '(none)'] || 0) + Number(r.cost_usd);
  }
  const file = (format) => '/admin/v1/chargeback' + query({ month, format });
  append(main, [
    form({ title: 'Month', submit: 'Show', fields: [{ name: 'month', label: 'Month', type: 'month', value: month }], onSubmit: async (v) => ctx.go('/ui/chargeback' + query(v)) }),
    h('p', {}, h('a', { class: 'button', href: file('csv'), download: `chargeback-${month}.csv` }, 'Download CSV'), ' ',
      h('a', { class: 'button', href: file('parquet'), download: `chargeback-${month}.parquet` }, 'Download Parquet')),
    section(`By project, ${month}`, table({
      columns: [{ key: 'project', label: 'Project' }, { key: 'project_id', label: 'Id' }, { key: 'cost_center', label: 'Cost centre' }, { key: 'requests', label: 'Requests' }, { key: 'tokens', label: 'Tokens' }, { key: 'cost', label: 'Cost', render: (r) => usd(r.cost) }],
      rows: Object.values(byProject),
    })),
    section('By cost centre', table({ columns: [{ key: 'cost_center', label: 'Cost centre' }, { key: 'cost', label: 'Cost', render: (r) => usd(r.cost) }], rows: Object.entries(centres).map(([cost_center, cost]) => ({ cost_center, cost })) })),
    section('By project and model', table({ columns: ['project', 'model', 'requests', 'tokens', 'cost_usd'].map((key) => ({ key })), rows: report.data })),
  ]);
}

// Who may open a page: the admin API's own rules, so the console never asks for what it would be refused.
export const ACCESS = {
  models: (ctx) => Boolean(ctx.session.system_role),
  audit: (ctx) => Boolean(ctx.session.system_role) || ctx.adminsAProject,
};

export const PAGES = { overview, usage, projects, users, keys, budgets, models, cache, audit, chargeback };
