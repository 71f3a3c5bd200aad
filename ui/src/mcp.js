// The MCP gateway: upstream servers with this worker's view of their health, virtual servers, tool policies, and the
// latest tool calls from the ledger (GET /admin/v1/mcp/...). Each object says where it comes from (source: config or
// api); a system admin creates and deletes those made here (the config file's are read-only).
import { h, append, clear } from './dom.js';
import { api, query } from './api.js';
import { form, parseJson, section, show, table, usd } from './widgets.js';

const LIMITS = [50, 200, 500];
const SCOPES = ['global', 'project', 'team', 'user', 'key'];
const globs = (text) => text.split(',').map((g) => g.trim()).filter(Boolean);

// A tool policy made here is replaced whole (PUT), as the guards' and budgets' are; the config file's are read-only.
function editPolicy(ctx, target, p) {
  const { source, ...policy } = p;
  clear(target).append(form({
    title: `Edit tool policy ${p.name}`, submit: 'Save tool policy',
    fields: [{ name: 'json', label: 'The tool policy (JSON, as in the config file\u2019s tool_policies:)', type: 'textarea', rows: 8, value: JSON.stringify(policy, null, 2) }],
    onSubmit: async (v) => { await api('PUT', '/admin/v1/mcp/tool-policies/' + encodeURIComponent(p.name), parseJson(v.json, 'json')); ctx.reload(); },
  }));
  target.querySelector('textarea').focus();
}

// A server's headers and env come back masked: it is created whole (JSON, as the config file's mcp.servers entry),
// never edited from what the page shows, so a masked value is never saved back.
const deleteButton = (ctx, path, what, name) => h('button', {
  type: 'button', class: 'danger',
  onclick: async () => { if (confirm(`Delete ${what} ${name}?`)) { await api('DELETE', `${path}/${encodeURIComponent(name)}`); ctx.reload(); } },
}, 'Delete');

export async function mcp(ctx, main) {
  const params = new URLSearchParams(location.search);
  const limit = LIMITS.includes(Number(params.get('calls'))) ? Number(params.get('calls')) : 50;
  const [servers, virtual, policies, calls] = await Promise.all([
    api('GET', '/admin/v1/mcp/servers'),
    api('GET', '/admin/v1/mcp/virtual-servers'),
    api('GET', '/admin/v1/mcp/tool-policies'),
    api('GET', '/admin/v1/mcp/tool-calls' + query({ limit })),
  ]);
  const admin = ctx.session.system_role === 'admin'; // the API's rule: MCP writes are a system admin's
  const editor = h('div', { 'aria-live': 'polite' });
  append(main, [
    section('Servers', table({
      caption: 'MCP servers',
      columns: [
        { key: 'name', label: 'Name' }, { key: 'transport', label: 'Transport' }, { key: 'target', label: 'Target' },
        { key: 'healthy', label: 'Health', render: (s) => h('span', { class: s.healthy ? 'ok' : 'bad' }, s.healthy ? 'healthy' : 'unhealthy') },
        { key: 'protocol_version', label: 'Protocol' }, { key: 'sessions_opened', label: 'Sessions opened' },
        { key: 'tools', label: 'Tools', render: (s) => (s.tools === null ? '—' : `${s.tools.length}: ${s.tools.slice(0, 8).join(', ')}${s.tools.length > 8 ? ' …' : ''}`) },
        { key: 'last_error', label: 'Last error' }, { key: 'source', label: 'Source' },
      ],
      rows: servers.data,
      empty: 'No MCP server is configured (mcp.servers in the config file, or below; docs/mcp.md).',
      actions: admin && ((s) => s.source === 'api' && deleteButton(ctx, '/admin/v1/mcp/servers', 'MCP server', s.name)),
    })),
    admin && form({
      title: 'New MCP server', submit: 'Create server',
      fields: [{ name: 'json', label: 'The server (JSON: its name and the config file’s mcp.servers entry; headers are stored encrypted)', type: 'textarea', rows: 5, required: true, value: '{"name": "", "transport": "streamable_http", "url": ""}' }],
      onSubmit: async (v) => { await api('POST', '/admin/v1/mcp/servers', parseJson(v.json, 'json')); ctx.reload(); },
    }),
    section('Virtual servers', table({
      caption: 'Virtual MCP servers',
      columns: [
        { key: 'name', label: 'Name' }, { key: 'servers', label: 'Upstreams' }, { key: 'include', label: 'Include' }, { key: 'exclude', label: 'Exclude' },
        { key: 'prefix', label: 'Prefixed names', render: (v) => (v.prefix ? `yes (${v.separator})` : 'no') },
        { key: 'endpoints', label: 'Endpoints', render: (v) => `${v.endpoints.streamable_http} · ${v.endpoints.sse}` },
        { key: 'source', label: 'Source' },
      ],
      rows: virtual.data,
      empty: 'No virtual server is configured.',
      actions: admin && ((v) => v.source === 'api' && deleteButton(ctx, '/admin/v1/mcp/virtual-servers', 'virtual server', v.name)),
    })),
    admin && form({
      title: 'New virtual server', submit: 'Create virtual server',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'servers', label: 'Upstream servers (comma-separated names)', required: true },
        { name: 'include', label: 'Include (comma-separated globs over server.tool; empty: every tool)' },
        { name: 'exclude', label: 'Exclude (comma-separated globs)' },
      ],
      onSubmit: async (v) => {
        const body = { name: v.name, servers: globs(v.servers) };
        const tools = {};
        if (v.include) tools.include = globs(v.include);
        if (v.exclude) tools.exclude = globs(v.exclude);
        if (Object.keys(tools).length) body.tools = tools;
        await api('POST', '/admin/v1/mcp/virtual-servers', body);
        ctx.reload();
      },
    }),
    section('Tool policies', table({
      caption: 'Tool policies',
      columns: ['name', 'scope', 'match', 'allow', 'deny'].map((key) => ({ key })),
      rows: policies.data,
      empty: 'No tool policy: every tool of a virtual server is listed and callable.',
      actions: admin && ((p) => p.source === 'api' && [
        h('button', { type: 'button', onclick: () => editPolicy(ctx, editor, p) }, 'Edit'),
        h('button', { type: 'button', class: 'danger', onclick: async () => { if (confirm(`Delete tool policy ${p.name}?`)) { await api('DELETE', '/admin/v1/mcp/tool-policies/' + encodeURIComponent(p.name)); ctx.reload(); } } }, 'Delete'),
      ]),
    })),
    editor,
    admin && form({
      title: 'New tool policy', submit: 'Create tool policy',
      fields: [
        { name: 'name', label: 'Name', required: true },
        { name: 'scope', label: 'Scope', type: 'select', options: SCOPES },
        { name: 'match', label: 'Match (a project, team, user or key; empty: every one)' },
        { name: 'allow', label: 'Allow (comma-separated globs; empty: every tool)' },
        { name: 'deny', label: 'Deny (comma-separated globs)' },
      ],
      onSubmit: async (v) => {
        const body = { name: v.name, scope: v.scope };
        if (v.match) body.match = v.match;
        if (v.allow) body.allow = globs(v.allow);
        if (v.deny) body.deny = globs(v.deny);
        await api('POST', '/admin/v1/mcp/tool-policies', body);
        ctx.reload();
      },
    }),
    section(`Latest ${limit} tool calls`, table({
      caption: 'Tool calls',
      columns: [
        { key: 'ts', label: 'Time' }, { key: 'request_id', label: 'Request' }, { key: 'principal_id', label: 'Principal' }, { key: 'project_id', label: 'Project' },
        { key: 'operation', label: 'Operation' }, { key: 'name', label: 'Tool' }, { key: 'status', label: 'Status' }, { key: 'error_code', label: 'Error' },
        { key: 'latency_ms', label: 'Duration (ms)' }, { key: 'cost_nanousd', label: 'Cost', render: (r) => usd(Number(r.cost_nanousd) / 1e9) },
        { key: 'details', label: 'Details', render: (r) => show(r.details) },
      ],
      rows: calls.data,
      empty: 'No tool calls yet.',
    }),
    h('p', {}, 'Show the latest ', LIMITS.map((n) => [h('a', { href: '/ui/mcp' + query({ calls: n }), 'data-nav': true, 'aria-current': n === limit ? 'true' : null }, String(n)), ' ']), 'calls.')),
  ]);
}
