import { h, append, clear, csv, download } from './dom.js';
import { ApiError, api, query } from './api.js';
import { providers } from './catalog.js';
import { alerts, config, guards } from './governance.js';
import { mcp } from './mcp.js';
import { prompts } from './prompts.js';
import { projects, users } from './tenancy.js';
import { bar, cards, chart, fmt, form, guarded, notice, pager, parseJson, section, show, table, usd } from './widgets.js';

const DIMENSIONS = ['project', 'team', 'user', 'key', 'model', 'deployment', 'provider', 'prompt_name', 'prompt_version', 'prompt_variant', 'day', 'month'];
const ANALYTICS_ONLY = ['cache', 'status', 'surface', 'operation'];
const day = 86400e3;
const iso = (d) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');

// The overview's figures come from the analytics API in a handful of parallel requests (per day, per project, per
// model), so it is as fast as that API is on a large ledger; budgets and firing alerts are their own lists.
export async function overview(ctx, main) {
  const from = iso(Math.floor((Date.now() - 30 * day) / day) * day);
  const daily = 'spend_usd,requests,tokens_in,tokens_out,errors,latency_p95,ttft_p95';
  const [days, projects, models, budgets, alerts, names] = await Promise.all([
    api('GET', '/admin/v1/analytics' + query({ interval: 'day', metrics: daily, from })),
    api('GET', '/admin/v1/analytics' + query({ group_by: 'project', metrics: 'spend_usd,requests', from })),
    api('GET', '/admin/v1/analytics' + query({ group_by: 'model', metrics: 'spend_usd,requests', from })),
    api('GET', '/admin/v1/budgets'),
    ctx.session.system_role ? api('GET', '/admin/v1/alerts') : Promise.resolve(null),
    api('GET', '/admin/v1/projects'),
  ]);
  const rows = days.rows;
  const sum = (k) => rows.reduce((n, r) => n + Number(r[k] || 0), 0);
  const worst = (k) => { const v = rows.map((r) => r[k]).filter((x) => x !== null); return v.length ? `${fmt(Math.max(...v))} ms` : '—'; };
  const label = (r) => r.bucket.slice(0, 10);
  const projectName = Object.fromEntries(names.data.map((p) => [p.id, p.name]));
  const bySpend = (a, b) => Number(b.cost_nanousd) - Number(a.cost_nanousd);
  const firing = alerts ? alerts.alerts.filter((a) => a.firing.length) : [];
  append(main, [
    cards([['Spend, 30 days', usd(sum('spend_usd'))], ['Requests', fmt(sum('requests'))], ['Tokens', fmt(sum('tokens_in') + sum('tokens_out'))], ['Errors', fmt(sum('errors'))], ['p95 latency, worst day', worst('latency_p95')], ['p95 TTFT, worst day', worst('ttft_p95')]]),
    alerts && section('Firing alerts', table({
      caption: 'Firing alerts',
      columns: [{ key: 'name', label: 'Alert', render: (a) => h('a', { href: '/ui/alerts', 'data-nav': true }, a.name) }, { key: 'signal', label: 'Signal' }, { key: 'scope', label: 'Scope' }, { key: 'firing', label: 'Firing for', render: (a) => a.firing.map((x) => x || 'global').join(', ') }],
      rows: firing, empty: 'No alert is firing.',
    })),
    h('div', { class: 'grid' },
      chart('Spend per day (USD)', rows.map((r) => ({ label: label(r), value: Number(r.spend_usd) }))),
      chart('Requests per day', rows.map((r) => ({ label: label(r), value: r.requests }))),
      chart('Tokens per day', rows.map((r) => ({ label: label(r), value: r.tokens_in + r.tokens_out }))),
      chart('Errors per day', rows.map((r) => ({ label: label(r), value: r.errors }))),
      chart('p95 latency per day (ms)', rows.map((r) => ({ label: label(r), value: r.latency_p95 ?? 0 }))),
      chart('p95 time to first token per day (ms)', rows.map((r) => ({ label: label(r), value: r.ttft_p95 ?? 0 }))),
    ),
    h('div', { class: 'grid' },
      section('Top projects', table({ caption: 'Top projects', columns: [{ key: 'project', label: 'Project', render: (r) => r.project === null ? '(master key)' : h('a', { href: '/ui/usage' + query({ group_by: 'model', project: r.project }), 'data-nav': true }, projectName[r.project] || r.project) }, { key: 'requests', label: 'Requests' }, { key: 'spend_usd', label: 'Cost', render: (r) => usd(r.spend_usd) }], rows: projects.rows.sort(bySpend).slice(0, 5) })),
      section('Top models', table({ caption: 'Top models', columns: [{ key: 'model', label: 'Model' }, { key: 'requests', label: 'Requests' }, { key: 'spend_usd', label: 'Cost', render: (r) => usd(r.spend_usd) }], rows: models.rows.sort(bySpend).slice(0, 5) })),
    ),
    section('Budgets near their caps', table({
      caption: 'Budgets near their caps',
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
    section(cursor ? 'Older requests' : 'Requests', table({ columns: columns.map((key) => (key === 'request_id' ? { key, render: requestLink } : { key })), rows: page.data, empty: 'No requests.' })),
    page.next_cursor && h('button', { type: 'button', class: 'older', onclick: () => ledger(target, filters, page.next_cursor) }, 'Older requests'),
  ]);
}

const requestLink = (r) => h('a', { href: '/ui/usage' + query({ request: r.request_id }), 'data-nav': true }, r.request_id);

// One request: its ledger row (the route decision is in its details: deployment, provider, guards, cache), and the
// audit entries that name it (guard decisions, MCP calls) within a day of it, for those who may read the trail.
async function request(ctx, main, id) {
  const row = await api('GET', '/admin/v1/usage/' + encodeURIComponent(id));
  const auditor = ctx.session.system_role || ctx.role(row.project_id) === 'admin';
  const at = Date.parse(row.ts);
  const trail = auditor ? await api('GET', '/admin/v1/audit' + query({ request: id, from: iso(at - day), to: iso(at + day), limit: 100 })) : null;
  const route = ['model', 'deployment', 'provider', 'surface', 'operation', 'status', 'error_code', 'cache_hit', 'stream', 'latency_ms', 'ttft_ms'];
  append(main, [
    h('p', {}, h('a', { href: '/ui/usage', 'data-nav': true }, 'Back to the usage explorer')),
    section(`Request ${id}`, table({
      caption: 'Ledger row',
      columns: [{ key: 'field', label: 'Field' }, { key: 'value', label: 'Value', render: (r) => show(r.value) }],
      rows: Object.entries(row).map(([field, value]) => ({ field, value })),
    })),
    section('Route decision', table({
      caption: 'Route decision',
      columns: route.map((key) => ({ key })),
      rows: [row],
    }), row.details ? h('pre', {}, JSON.stringify(row.details, null, 2)) : h('p', { class: 'muted' }, 'No details recorded.')),
    section('Audit entries', trail
      ? table({
        caption: 'Audit entries of this request',
        columns: [{ key: 'seq' }, { key: 'ts' }, { key: 'actor' }, { key: 'action' }, { key: 'target' }, { key: 'details', render: (e) => show(e.details) }],
        rows: trail.data, empty: 'No audit entry names this request.',
      })
      : h('p', { class: 'muted' }, 'The audit trail needs a system role or the admin role on the request\u2019s project.')),
  ]);
}

export async function usage(ctx, main) {
  const params = new URLSearchParams(location.search);
  if (params.get('request')) return request(ctx, main, params.get('request'));
  const results = h('div');
  const run = async (v) => {
    const q = { group_by: v.group_by, from: v.from && iso(v.from), to: v.to && iso(v.to), project: v.project };
    history.replaceState(null, '', location.pathname + query(v));
    const dims = v.group_by ? v.group_by.split(',').map((d) => d.trim()).filter(Boolean) : [];
    // the usage API's dimensions drill down to ledger rows; the analytics API adds cache, status, surface, operation
    const viaAnalytics = dims.some((d) => ANALYTICS_ONLY.includes(d));
    const timeDims = dims.filter((d) => d === 'day' || d === 'month');
    if (viaAnalytics && timeDims.length) throw new ApiError(400, { message: `group by ${ANALYTICS_ONLY.join(', ')} goes through the analytics API: leave day and month out`, param: 'group_by' });
    const range = { from: q.from, to: q.to, project: q.project };
    const [data, daily] = await Promise.all([
      viaAnalytics
        ? api('GET', '/admin/v1/analytics' + query({ ...range, group_by: dims.join(','), metrics: 'spend_usd,requests,tokens_in,tokens_out,errors' }))
        : api('GET', '/admin/v1/usage' + query(q)),
      api('GET', '/admin/v1/analytics' + query({ ...range, from: range.from || iso(Math.floor((Date.now() - 30 * day) / day) * day), interval: 'day', metrics: 'spend_usd,requests' })),
    ]);
    const columns = viaAnalytics ? [...dims, 'requests', 'tokens_in', 'tokens_out', 'errors', 'spend_usd'] : [...dims, 'requests', 'input_tokens', 'output_tokens', 'cost_usd'];
    const cost = (r) => Number(viaAnalytics ? r.spend_usd : r.cost_usd);
    const top = [...data.rows].sort((a, b) => cost(b) - cost(a)).slice(0, 30);
    clear(results);
    const requests = h('div', { 'aria-live': 'polite' });
    append(results, [
      h('div', { class: 'grid' },
        chart(`Cost by ${dims.join(', ') || 'everything'} (top ${top.length}, USD)`, top.map((r) => ({ label: dims.map((d) => show(r[d])).join(' · ') || 'all', value: cost(r) }))),
        chart('Spend per day in the range (USD)', daily.rows.map((r) => ({ label: r.bucket.slice(0, 10), value: Number(r.spend_usd) })))),
      h('button', { type: 'button', onclick: () => download('usage.csv', 'text/csv', csv(columns, data.rows)) }, 'Export CSV'),
      table({
        caption: 'Usage', columns: columns.map((key) => ({ key })), rows: data.rows,
        actions: !viaAnalytics && ((row) => h('button', { type: 'button', onclick: () => ledger(requests, drill(row, dims, q)) }, 'Requests')),
      }),
      requests,
    ]);
  };
  const initial = { group_by: params.get('group_by') || 'project', from: params.get('from') || '', to: params.get('to') || '', project: params.get('project') || '' };
  append(main, [
    form({
      title: 'Explore usage', submit: 'Show',
      fields: [
        { name: 'group_by', label: `Group by (comma-separated: ${[...DIMENSIONS, ...ANALYTICS_ONLY].join(', ')})`, value: initial.group_by },
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
      onSubmit: async (v) => {
        await api('GET', '/admin/v1/usage/' + encodeURIComponent(v.request_id)); // an unknown id: its message here
        ctx.go('/ui/usage' + query({ request: v.request_id }));
      },
    }),
  ]);
  await guarded(results, () => run(initial));
}

const KEYS_PER_PAGE = 50;
let justCreated = null; // a new key, shown once on the next render of the keys page and then forgotten

export async function keys(ctx, main) {
  const params = new URLSearchParams(location.search);
  const project = params.get('project') || '';
  const cursor = params.get('cursor') || '';
  const [list, projectList] = await Promise.all([api('GET', '/admin/v1/keys' + query({ project, limit: KEYS_PER_PAGE, cursor })), api('GET', '/admin/v1/projects')]);
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
      columns: [{ key: 'prefix', label: 'Prefix' }, { key: 'name', label: 'Name' }, { key: 'status', label: 'Status' }, { key: 'project_id', label: 'Project' }, { key: 'user_id', label: 'User' }, { key: 'models', label: 'Models' }, { key: 'expires_at', label: 'Expires' }, { key: 'created_at', label: 'Created' }, { key: 'last_used_hour', label: 'Last use (hour, UTC)', render: (k) => (k.last_used_hour ? show(k.last_used_hour) : 'never') }],
      rows: list.data,
      actions: (k) => k.status === 'active' && mayChange(k) && [
        h('button', { onclick: async () => { await remember(await api('POST', `/admin/v1/keys/${k.id}/rotate`, { overlap_hours: 24 })); } }, 'Rotate'),
        h('button', { class: 'danger', onclick: async () => { await api('POST', `/admin/v1/keys/${k.id}/revoke`); ctx.reload(); } }, 'Revoke'),
      ],
    }), pager('/ui/keys', { project, cursor }, list.next_cursor)),
  ]);
  if (justCreated) {
    once(justCreated);
    justCreated = null;
  }
}

// A budget made in the API is replaced whole (PUT): the form starts from what its state shows; the API refuses a
// config file's budget, and says so next to the field.
function editBudget(ctx, target, r) {
  const guess = { name: r.budget, scope: r.scope, window: r.window, cap: r.cap, on_exceed: r.on_exceed };
  if (r.scope !== 'global' && r.scope_value) guess.match = r.scope_value;
  if (r.unit === 'usd') guess.limit_usd = r.limit;
  else guess.limit_tokens = Number(r.limit);
  clear(target).append(form({
    title: `Edit budget ${r.budget}`, submit: 'Save budget',
    fields: [{ name: 'json', label: 'The budget (JSON, as in the config file\u2019s budgets:)', type: 'textarea', rows: 8, value: JSON.stringify(guess, null, 2) }],
    onSubmit: async (v) => { await api('PUT', '/admin/v1/budgets/' + encodeURIComponent(r.budget), parseJson(v.json, 'json')); ctx.reload(); },
  }));
  target.querySelector('textarea').focus();
}

export async function budgets(ctx, main) {
  const list = await api('GET', '/admin/v1/budgets');
  const editor = h('div', { 'aria-live': 'polite' });
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
      actions: ctx.isSystemAdmin && ((r) => h('button', { type: 'button', onclick: () => editBudget(ctx, editor, r) }, 'Edit')),
    })),
    editor,
  ]);
  if (ctx.session.system_role) await rateLimits(ctx, main);
}

async function rateLimits(ctx, main) {
  const limits = await api('GET', '/admin/v1/rate-limits');
  const editor = h('div', { 'aria-live': 'polite' });
  const edit = (r) => {
    const body = Object.fromEntries(Object.entries(r).filter(([k, v]) => !['object', 'source'].includes(k) && v !== null));
    clear(editor).append(form({
      title: `Edit rate limit ${r.name}`, submit: 'Save rate limit',
      fields: [{ name: 'json', label: 'The rate limit (JSON, as in the config file\u2019s rate_limits:)', type: 'textarea', rows: 8, value: JSON.stringify(body, null, 2) }],
      onSubmit: async (v) => { await api('PUT', '/admin/v1/rate-limits/' + encodeURIComponent(r.name), parseJson(v.json, 'json')); ctx.reload(); },
    }));
    editor.querySelector('textarea').focus();
  };
  append(main, [
    section('Rate limits', table({
      caption: 'Rate limits',
      columns: ['name', 'scope', 'match', 'rpm', 'tpm', 'concurrent', 'algorithm', 'source'].map((key) => ({ key })),
      rows: limits.data,
      actions: ctx.isSystemAdmin && ((r) => r.source === 'api' && [
        h('button', { type: 'button', onclick: () => edit(r) }, 'Edit'),
        h('button', { class: 'danger', onclick: async () => { await api('DELETE', '/admin/v1/rate-limits/' + encodeURIComponent(r.name)); ctx.reload(); } }, 'Delete'),
      ]),
    })),
    editor,
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

// Deployments as the router sees them on this worker: breaker, health (EWMA latency and TTFT, success rate over the
// window) and any canary on them, with its promote / rollback / resume buttons.
export async function models(ctx, main) {
  const list = await api('GET', '/admin/v1/deployments');
  const ms = (s) => (s === null || s === undefined ? '—' : `${fmt(Math.round(s * 1000))} ms`);
  const pct = (x) => (x === null || x === undefined ? '—' : `${fmt(Math.round(x * 1000) / 10)} %`);
  const canaries = list.data.filter((d) => d.canary);
  append(main, [
    ctx.isSystemAdmin && h('p', {}, 'Models and providers stored in the database are created and edited on the ', h('a', { href: '/ui/providers', 'data-nav': true }, 'Providers page'), '.'),
    section('Deployments', table({
      caption: 'Deployments',
      columns: [
        { key: 'deployment', label: 'Deployment' }, { key: 'provider', label: 'Provider' }, { key: 'upstream_model', label: 'Upstream model' },
        { key: 'models', label: 'Serves' }, { key: 'weight', label: 'Weight' }, { key: 'price_per_mtok', label: 'USD / M tokens' },
        { key: 'breaker', label: 'Breaker', render: (d) => h('span', { class: d.breaker.state === 'closed' ? 'ok' : 'bad' }, d.breaker.state + (d.breaker.reason ? ` (${d.breaker.reason})` : '')) },
        { key: 'failures', label: 'Consecutive failures', render: (d) => String(d.breaker.consecutive_failures) },
        { key: 'success', label: 'Success', render: (d) => pct(d.health.success_rate) },
        { key: 'latency', label: 'Latency EWMA', render: (d) => ms(d.health.latency_ewma_s) },
        { key: 'ttft', label: 'TTFT EWMA', render: (d) => ms(d.health.ttft_ewma_s) },
        { key: 'in_flight', label: 'In flight', render: (d) => String(d.health.in_flight) },
        { key: 'requests', label: 'Requests / failures', render: (d) => `${fmt(d.health.requests_total)} / ${fmt(d.health.failures_total)}` },
      ],
      rows: list.data,
    })),
    section('Canaries', table({
      caption: 'Canaries',
      columns: [
        { key: 'model', label: 'Model', render: (d) => d.canary.model }, { key: 'deployment', label: 'Candidate' },
        { key: 'status', label: 'Status', render: (d) => d.canary.status }, { key: 'percent', label: 'Percent', render: (d) => String(d.canary.percent) },
        { key: 'sticky', label: 'Sticky per', render: (d) => show(d.canary.sticky) }, { key: 'reason', label: 'Reason', render: (d) => show(d.canary.reason) },
        { key: 'arms', label: 'Arms', render: (d) => show(d.canary.arms) },
      ],
      rows: canaries,
      empty: 'No model has a canary (routing canaries are set in the config file).',
      actions: ctx.isSystemAdmin && ((d) => ['promote', 'rollback', 'resume'].map((action) =>
        h('button', { type: 'button', onclick: async () => { await api('POST', `/admin/v1/models/${encodeURIComponent(d.canary.model)}/canary/${action}`); ctx.reload(); } }, action[0].toUpperCase() + action.slice(1)))),
    })),
  ]);
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
const system = (ctx) => Boolean(ctx.session.system_role);
export const ACCESS = {
  models: system,
  providers: (ctx) => ctx.isSystemAdmin, // GET /admin/v1/providers and /models need the system admin role
  audit: (ctx) => system(ctx) || ctx.adminsAProject,
  alerts: system,
  mcp: system,
  config: system,
};

export const PAGES = { overview, usage, projects, users, keys, budgets, models, providers, cache, audit, chargeback, guards, prompts, mcp, alerts, config };
