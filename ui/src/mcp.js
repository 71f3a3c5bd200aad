// The MCP gateway: upstream servers with this worker's view of their health, virtual servers, tool policies, and the
// latest tool calls from the ledger (GET /admin/v1/mcp/...; servers come from the config file's mcp:).
import { h, append } from './dom.js';
import { api, query } from './api.js';
import { section, show, table, usd } from './widgets.js';

const LIMITS = [50, 200, 500];

export async function mcp(ctx, main) {
  const params = new URLSearchParams(location.search);
  const limit = LIMITS.includes(Number(params.get('calls'))) ? Number(params.get('calls')) : 50;
  const [servers, virtual, policies, calls] = await Promise.all([
    api('GET', '/admin/v1/mcp/servers'),
    api('GET', '/admin/v1/mcp/virtual-servers'),
    api('GET', '/admin/v1/mcp/tool-policies'),
    api('GET', '/admin/v1/mcp/tool-calls' + query({ limit })),
  ]);
  append(main, [
    section('Servers', table({
      caption: 'MCP servers',
      columns: [
        { key: 'name', label: 'Name' }, { key: 'transport', label: 'Transport' }, { key: 'target', label: 'Target' },
        { key: 'healthy', label: 'Health', render: (s) => h('span', { class: s.healthy ? 'ok' : 'bad' }, s.healthy ? 'healthy' : 'unhealthy') },
        { key: 'protocol_version', label: 'Protocol' }, { key: 'sessions_opened', label: 'Sessions opened' },
        { key: 'tools', label: 'Tools', render: (s) => (s.tools === null ? '—' : `${s.tools.length}: ${s.tools.slice(0, 8).join(', ')}${s.tools.length > 8 ? ' …' : ''}`) },
        { key: 'last_error', label: 'Last error' },
      ],
      rows: servers.data,
      empty: 'No MCP server is configured (mcp.servers in the config file, docs/mcp.md).',
    })),
    section('Virtual servers', table({
      caption: 'Virtual MCP servers',
      columns: [
        { key: 'name', label: 'Name' }, { key: 'servers', label: 'Upstreams' }, { key: 'include', label: 'Include' }, { key: 'exclude', label: 'Exclude' },
        { key: 'prefix', label: 'Prefixed names', render: (v) => (v.prefix ? `yes (${v.separator})` : 'no') },
        { key: 'endpoints', label: 'Endpoints', render: (v) => `${v.endpoints.streamable_http} · ${v.endpoints.sse}` },
      ],
      rows: virtual.data,
      empty: 'No virtual server is configured.',
    })),
    section('Tool policies', table({
      caption: 'Tool policies',
      columns: ['name', 'scope', 'match', 'allow', 'deny'].map((key) => ({ key })),
      rows: policies.data,
      empty: 'No tool policy: every tool of a virtual server is listed and callable.',
    })),
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
