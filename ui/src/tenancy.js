// Projects, their teams and agents, and users with their roles: create, edit and delete within the caller's roles.
import { h, append, clear } from './dom.js';
import { api, query } from './api.js';
import { PER_PAGE, cursorOf, form, pager, section, table } from './widgets.js';

export async function projects(ctx, main) {
  const cursor = cursorOf();
  const list = await api('GET', '/admin/v1/projects' + query({ limit: PER_PAGE, cursor }));
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
        ctx.role(p.id) === 'admin' && h('button', { type: 'button', onclick: () => editProject(ctx, detail, p) }, 'Edit'),
        ctx.isSystemAdmin && h('button', { class: 'danger', onclick: async () => { if (confirm(`Delete project ${p.name}?`)) { await api('DELETE', '/admin/v1/projects/' + p.id); ctx.reload(); } } }, 'Delete'),
      ],
    }), pager('/ui/projects', { cursor }, list.next_cursor)),
    detail,
  ]);
}

function editProject(ctx, target, p) {
  clear(target).append(form({
    title: `Edit project ${p.name}`, submit: 'Save project',
    fields: [
      { name: 'name', label: 'Name', value: p.name, required: true },
      { name: 'cost_center', label: 'Cost centre (empty: none)', value: p.cost_center || '' },
      { name: 'allowed_models', label: 'Allowed models (comma-separated; empty: every model)', value: (p.allowed_models || []).join(', ') },
    ],
    onSubmit: async (v) => {
      const models = v.allowed_models.split(',').map((m) => m.trim()).filter(Boolean);
      await api('PATCH', '/admin/v1/projects/' + p.id, { name: v.name, cost_center: v.cost_center || null, allowed_models: models.length ? models : null });
      ctx.reload();
    },
  }));
  target.querySelector('input').focus();
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
  const cursor = cursorOf();
  const [list, projectList] = await Promise.all([api('GET', '/admin/v1/users' + query({ limit: PER_PAGE, cursor })), api('GET', '/admin/v1/projects')]);
  const administered = projectList.data.filter((p) => ctx.role(p.id) === 'admin');
  const projectName = Object.fromEntries(projectList.data.map((p) => [p.id, p.name]));
  const mayChange = (r) => ctx.isSystemAdmin || (r.scope === 'project' && ctx.role(r.scope_id) === 'admin');
  const roleCell = (u) => u.roles.length ? u.roles.map((r) => h('span', { class: 'role' },
    `${r.role} of ${r.scope === 'project' ? projectName[r.scope_id] || r.scope_id : r.scope}${r.scope === 'team' ? ' ' + r.scope_id : ''} `,
    mayChange(r) && h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${r.role} role of ${u.email} at ${r.scope} ${r.scope_id || ''}`, onclick: async () => {
      await api('DELETE', `/admin/v1/users/${u.id}/roles`, r.scope === 'system' ? { scope: 'system' } : { scope: r.scope, scope_id: r.scope_id });
      ctx.reload();
    } }, 'Remove'))) : '—';
  const scopes = [...(ctx.isSystemAdmin ? [{ value: '', label: 'the whole gateway (system)' }] : []), ...administered.map((p) => ({ value: p.id, label: `project ${p.name}` }))];
  append(main, [
    ctx.adminsAProject && form({
      title: 'New user', submit: 'Create user',
      fields: [{ name: 'email', label: 'Email', type: 'email', required: true }, { name: 'name', label: 'Name' }],
      onSubmit: async (v) => { await api('POST', '/admin/v1/users', { email: v.email, name: v.name || null }); ctx.reload(); },
    }),
    section('Users', table({
      caption: 'Users',
      columns: [{ key: 'email', label: 'Email' }, { key: 'name', label: 'Name' }, { key: 'id', label: 'Id' }, { key: 'roles', label: 'Roles', render: roleCell }],
      rows: list.data,
      actions: ctx.isSystemAdmin && ((u) => h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (confirm(`Delete user ${u.email}? Their roles and keys go too.`)) { await api('DELETE', '/admin/v1/users/' + u.id); ctx.reload(); }
      } }, 'Delete')),
    }), pager('/ui/users', { cursor }, list.next_cursor)),
    scopes.length > 0 && list.data.length > 0 && form({
      title: 'Grant a role', submit: 'Grant role',
      fields: [
        { name: 'user', label: 'User', type: 'select', options: list.data.map((u) => ({ value: u.id, label: u.email })) },
        { name: 'scope_id', label: 'Where', type: 'select', options: scopes },
        { name: 'role', label: 'Role', type: 'select', options: ['viewer', 'member', 'admin'] },
      ],
      onSubmit: async (v) => {
        const body = v.scope_id ? { scope: 'project', scope_id: v.scope_id, role: v.role } : { scope: 'system', role: v.role };
        await api('PUT', `/admin/v1/users/${v.user}/roles`, body);
        ctx.reload();
      },
    }),
  ]);
}
