// Managed prompts (docs/prompts.md): the list, and one prompt's labels, versions with a diff, pending approvals,
// promotions, rollbacks and canary state. /ui/prompts?name=N&project=P deep-links to one prompt.
import { h, append, clear } from './dom.js';
import { api, query } from './api.js';
import { PER_PAGE, cursorOf, fmt, form, notice, pager, parseJson, section, show, table } from './widgets.js';

const short = (id) => (id ? id.slice(0, 12) : '—');

export async function prompts(ctx, main) {
  const params = new URLSearchParams(location.search);
  const name = params.get('name');
  if (name) return prompt(ctx, main, name, params.get('project') || '');
  const cursor = cursorOf();
  const [list, projects] = await Promise.all([api('GET', '/admin/v1/prompts' + query({ limit: PER_PAGE, cursor })), api('GET', '/admin/v1/projects')]);
  const projectName = Object.fromEntries(projects.data.map((p) => [p.id, p.name]));
  const owners = projects.data.filter((p) => ['admin', 'member'].includes(ctx.role(p.id)));
  const link = (p) => h('a', { href: '/ui/prompts' + query({ name: p.name, project: p.project }), 'data-nav': true }, p.name);
  append(main, [
    section('Prompts', table({
      caption: 'Prompts',
      columns: [
        { key: 'name', label: 'Name', render: link }, { key: 'project', label: 'Project', render: (p) => (p.project ? projectName[p.project] || p.project : 'system-wide') },
        { key: 'description', label: 'Description' },
        { key: 'labels', label: 'Labels', render: (p) => p.labels.map((l) => `${l.label} → v${versionNumber(p, l.version)}`).join(', ') || '—' },
        { key: 'versions', label: 'Versions', render: (p) => String(p.versions.length) },
        { key: 'pending', label: 'Pending approvals', render: (p) => String(p.pending.length) },
        { key: 'canaries', label: 'Canaries', render: (p) => p.canaries.map((c) => `${c.label}: ${c.percent} %`).join(', ') || '—' },
      ],
      rows: list.data,
      empty: 'No prompts yet (wardgate prompts push, or the form below).',
    }), pager('/ui/prompts', { cursor }, list.next_cursor)),
    (owners.length > 0 || ctx.session.system_role === 'admin' || ctx.session.system_role === 'member') && form({
      title: 'New prompt', submit: 'Create prompt',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'project', label: 'Project', type: 'select', options: [...(ctx.session.system_role && ctx.session.system_role !== 'viewer' ? [{ value: '', label: 'system-wide' }] : []), ...owners.map((p) => ({ value: p.id, label: p.name }))] },
        { name: 'description', label: 'Description' },
      ],
      onSubmit: async (v) => {
        const body = { name: v.name };
        if (v.project) body.project = v.project;
        if (v.description) body.description = v.description;
        const created = await api('POST', '/admin/v1/prompts', body);
        await ctx.go('/ui/prompts' + query({ name: created.name, project: created.project }));
      },
    }),
  ]);
}

function versionNumber(p, id) {
  const v = p.versions.find((x) => x.id === id);
  return v ? v.number : short(id);
}

async function prompt(ctx, main, name, project) {
  const base = '/admin/v1/prompts/' + encodeURIComponent(name);
  const q = query({ project });
  const p = await api('GET', base + q);
  const role = project ? ctx.role(project) : ctx.session.system_role;
  const member = role === 'admin' || role === 'member';
  const admin = role === 'admin';
  const again = () => ctx.reload();
  const byNumber = Object.fromEntries(p.versions.map((v) => [v.id, v.number]));
  const vname = (id) => (byNumber[id] ? `v${byNumber[id]} (${short(id)})` : short(id));
  const versionOptions = [...p.versions].reverse().map((v) => ({ value: v.id, label: `v${v.number} · ${short(v.id)} · ${v.author}` }));
  const diffOut = h('div', { 'aria-live': 'polite' });
  const review = (pr, decision) => h('button', { type: 'button', class: decision === 'reject' ? 'danger' : null, onclick: async () => {
    const reason = prompt_(`Reason to ${decision} (optional)`);
    await api('POST', `${base}/promotions/${encodeURIComponent(pr.id)}/${decision}${q}`, reason ? { reason } : undefined);
    again();
  } }, decision === 'approve' ? 'Approve' : 'Reject');
  main.querySelector('h1').textContent = `Prompt ${p.name}`;
  append(main, [
    h('p', {}, h('a', { href: '/ui/prompts', 'data-nav': true }, 'All prompts'), ` · ${p.project ? 'project ' + p.project : 'system-wide'} · created by ${p.created_by} ${show(p.created_at)}`),
    p.description && h('p', {}, p.description),
    section('Labels', table({
      caption: 'Labels',
      columns: [
        { key: 'label', label: 'Label' }, { key: 'version', label: 'Version', render: (l) => vname(l.version) },
        { key: 'previous', label: 'Before', render: (l) => (l.previous ? vname(l.previous) : '—') },
        { key: 'protected', label: 'Protected', render: (l) => (l.protected ? `yes, ${l.approvals_required} approval(s)` : 'no') },
        { key: 'updated_by', label: 'Moved by' }, { key: 'updated_at', label: 'Moved at' },
      ],
      rows: p.labels,
      empty: 'No label points to a version yet.',
      actions: admin && ((l) => l.previous && h('button', { type: 'button', onclick: async () => {
        const reason = prompt_(`Why roll ${l.label} back?`);
        if (!reason) return;
        await api('POST', `${base}/labels/${encodeURIComponent(l.label)}/rollback${q}`, { reason });
        again();
      } }, 'Roll back')),
    })),
    section('Pending approvals', table({
      caption: 'Pending approvals',
      columns: [
        { key: 'label', label: 'Label' }, { key: 'version', label: 'Version', render: (r) => vname(r.version) }, { key: 'reason', label: 'Reason' },
        { key: 'requested_by', label: 'Requested by' }, { key: 'approvals', label: 'Approvals', render: (r) => `${r.approvals.filter((a) => a.decision === 'approve').length} of ${r.required}` },
        { key: 'created_at', label: 'Asked at' },
      ],
      rows: p.pending,
      empty: 'No promotion is waiting for approval.',
      actions: admin && ((r) => [review(r, 'approve'), review(r, 'reject')]),
    })),
    section('Canaries', table({
      caption: 'Canaries',
      columns: [
        { key: 'label', label: 'Label' }, { key: 'version', label: 'Canary version', render: (c) => vname(c.version) }, { key: 'percent', label: 'Percent' },
        { key: 'sticky', label: 'Sticky per' }, { key: 'rollback', label: 'Automatic rollback', render: (c) => rule(c.rollback) },
        { key: 'stats', label: 'This worker\u2019s window', render: (c) => stats(c.stats) }, { key: 'started_by', label: 'Started by' }, { key: 'started_at', label: 'Started at' },
      ],
      rows: p.canaries,
      empty: 'No canary is running.',
      actions: admin && ((c) => [
        h('button', { type: 'button', onclick: async () => { await api('POST', `${base}/labels/${encodeURIComponent(c.label)}/canary/promote${q}`); again(); } }, 'Promote'),
        h('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `${base}/labels/${encodeURIComponent(c.label)}/canary${q}`); again(); } }, 'End'),
      ]),
    })),
    section('Versions', table({
      caption: 'Versions',
      columns: [{ key: 'number', label: 'Number' }, { key: 'id', label: 'Id', render: (v) => short(v.id) }, { key: 'author', label: 'Author' }, { key: 'created_at', label: 'Created' }],
      rows: [...p.versions].reverse(),
      empty: 'No versions yet.',
    })),
    p.versions.length > 1 && form({
      title: 'Compare versions', submit: 'Show diff',
      fields: [
        { name: 'a', label: 'From', type: 'select', options: versionOptions, value: versionOptions[1].value },
        { name: 'b', label: 'To', type: 'select', options: versionOptions, value: versionOptions[0].value },
      ],
      onSubmit: async (v) => {
        const [a, b] = await Promise.all([v.a, v.b].map((id) => api('GET', `${base}/versions/${encodeURIComponent(id)}${q}`)));
        clear(diffOut).append(section(`v${a.number} → v${b.number}`, diff(text(a), text(b))));
      },
    }),
    diffOut,
    member && p.versions.length > 0 && form({
      title: 'Move a label', submit: 'Promote',
      fields: [
        { name: 'label', label: 'Label', value: 'production', required: true },
        { name: 'version', label: 'Version', type: 'select', options: versionOptions },
        { name: 'reason', label: 'Reason', required: true },
      ],
      onSubmit: async (v) => {
        const r = await api('POST', `${base}/promotions${q}`, v);
        await again();
        if (r.status === 'pending') append(main, [notice(`Promotion ${r.id} waits for ${r.required} approval(s).`)]);
      },
    }),
    admin && p.versions.length > 0 && form({
      title: 'Start a canary', submit: 'Start canary',
      fields: [
        { name: 'label', label: 'Label', value: 'production', required: true },
        { name: 'version', label: 'Canary version', type: 'select', options: versionOptions },
        { name: 'percent', label: 'Percent of callers', type: 'number', step: 'any', required: true },
        { name: 'sticky', label: 'Sticky per', type: 'select', options: ['user', 'key'] },
      ],
      onSubmit: async (v) => {
        await api('PUT', `${base}/labels/${encodeURIComponent(v.label)}/canary${q}`, { version: v.version, percent: Number(v.percent), sticky: v.sticky });
        again();
      },
    }),
    member && form({
      title: 'Push a version', submit: 'Push version',
      fields: [
        { name: 'messages', label: 'Messages (JSON: [{"role": "system", "content": "… {{ variable }} …"}])', type: 'textarea', rows: 6, required: true },
        { name: 'model', label: 'Model (optional)' },
        { name: 'params', label: 'Params (JSON object, optional)', type: 'textarea', rows: 2 },
      ],
      onSubmit: async (v) => {
        const body = { messages: parseJson(v.messages, 'messages') };
        if (v.model.trim()) body.model = v.model.trim();
        if (v.params.trim()) body.params = parseJson(v.params, 'params');
        await api('POST', `${base}/versions${q}`, body);
        again();
      },
    }),
  ]);
}

// A canary's rollback rule and window in words, not JSON.
function rule(r) {
  const parts = [`window ${r.window_s} s`, `at least ${r.min_requests} requests`];
  if (r.error_rate_margin !== null && r.error_rate_margin !== undefined) parts.push(`error rate +${fmt(100 * r.error_rate_margin)} pts`);
  if (r.ttft_p95_margin !== null && r.ttft_p95_margin !== undefined) parts.push(`TTFT p95 ×${fmt(1 + r.ttft_p95_margin)}`);
  if (r.cost_margin !== null && r.cost_margin !== undefined) parts.push(`cost ×${fmt(1 + r.cost_margin)}`);
  return parts.join(', ');
}

function stats(s) {
  if (!s) return '—';
  const one = (name, x) => (x ? `${name}: ${fmt(x.requests)} requests, ${fmt(100 * (x.error_rate || 0))} % errors, TTFT p95 ${fmt(x.ttft_p95_ms || 0)} ms` : `${name}: —`);
  return [one('control', s.control), one('canary', s.canary)].join('; ');
}

// The prompt() dialog, kept apart from this module's prompt(): named so the two do not collide.
function prompt_(question) {
  return window.prompt(question);
}

// What a version is, as lines to compare: its messages one by one, then model, params, variables.
function text(v) {
  const out = [];
  for (const m of v.messages) out.push(`[${m.role}]`, ...String(m.content).split('\n'));
  out.push(`model: ${v.model ?? '—'}`);
  out.push(...`params: ${JSON.stringify(v.params, null, 2)}`.split('\n'));
  if (v.variables) out.push(...`variables: ${JSON.stringify(v.variables, null, 2)}`.split('\n'));
  return out;
}

// A line diff (longest common subsequence); lines past 2,000 a side are compared as one block.
function diff(a, b) {
  const max = 2000;
  if (a.length > max || b.length > max) return h('p', {}, 'The versions are too long to compare here; use `wardgate prompts diff`.');
  const n = a.length, m = b.length;
  const dp = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const lines = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { lines.push(['same', '  ' + a[i]]); i++; j++; }
    else if (j < m && (i === n || dp[i][j + 1] >= dp[i + 1][j])) { lines.push(['add', '+ ' + b[j]]); j++; }
    else { lines.push(['del', '- ' + a[i]]); i++; }
  }
  return h('div', { class: 'diff', role: 'region', 'aria-label': 'Differences', tabindex: '0' },
    lines.map(([kind, line]) => h('div', { class: kind }, kind === 'add' ? h('ins', {}, line) : kind === 'del' ? h('del', {}, line) : line)));
}
