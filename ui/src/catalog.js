// Providers and models stored in the database catalog (GET/POST/PUT/DELETE /admin/v1/providers and /admin/v1/models;
// system admins only, as the API). The config file's entries are listed read-only, marked as such. A provider's
// secrets are write-only: the API never returns them, and this page shows only whether one is set.
import { h, append, clear } from './dom.js';
import { ApiError, api } from './api.js';
import { form, notice, parseJson, section, show, table } from './widgets.js';

const KEYED = ['type', 'base_url'];
const source = (e) => (e.source === 'config' ? 'config file (read-only)' : 'database');
const active = (e) => (e.active ? 'yes' : 'no: the config file defines this name');
const path = (kind, name) => `/admin/v1/${kind}/${encodeURIComponent(name)}`;

// A model's deployments, whichever form its config takes (a list, or a mapping with `deployments:`).
function deployments(config) {
  return (Array.isArray(config) ? config : (config && config.deployments) || []).filter((d) => d && typeof d === 'object');
}

function price(d) {
  if (!d.price || typeof d.price !== 'object') return 'the pricing catalog\u2019s';
  return `$${d.price.input ?? 0} in / $${d.price.output ?? 0} out per 1M tokens`;
}

function secretsOf(p) {
  const names = Object.keys(p.secrets || {});
  if (names.includes('*')) return h('span', { class: 'bad' }, p.secrets['*']); // no key of catalog.secret_keys opens them
  return names.length ? names.map((n) => `${n}: set`).join(', ') : 'none set';
}

// The provider's settings other than type and base URL, as JSON: what the "Other settings" field edits.
function rest(config) {
  const out = { ...config };
  for (const k of KEYED) delete out[k];
  return Object.keys(out).length ? JSON.stringify(out, null, 2) : '';
}

function providerForm(ctx, p, types) {
  const fields = [
    !p && { name: 'name', label: 'Name', required: true },
    { name: 'config.type', label: 'Type', type: 'select', options: types, value: p ? p.config.type : 'openai' },
    { name: 'config.base_url', label: 'Base URL (empty: the type\u2019s own)', value: p ? p.config.base_url || '' : '' },
    {
      name: 'config.api_key', type: 'password', autocomplete: 'new-password',
      label: p ? 'New API key (write-only; empty: keep the stored one)' : 'API key (write-only: never shown again)',
    },
    p && p.secrets && p.secrets.api_key && { name: 'remove_key', label: 'Remove the stored API key', type: 'checkbox' },
    { name: 'config', label: 'Other settings (a JSON object, e.g. {"organization": "org-1"}; optional)', type: 'textarea', rows: 4, value: p ? rest(p.config) : '' },
  ].filter(Boolean);
  return form({
    title: p ? `Edit provider ${p.name}` : 'New provider', submit: p ? 'Save provider' : 'Create provider',
    fields,
    onSubmit: async (v) => {
      const extra = v.config.trim() ? parseJson(v.config, 'config') : {};
      if (!extra || typeof extra !== 'object' || Array.isArray(extra)) throw new ApiError(400, { message: 'must be a JSON object', param: 'config' });
      const config = { ...extra, type: v['config.type'] };
      if (v['config.base_url']) config.base_url = v['config.base_url'];
      if (v['config.api_key']) config.api_key = v['config.api_key'];
      else if (v.remove_key) config.api_key = null; // null removes a stored secret; left out keeps it
      if (p) await api('PUT', path('providers', p.name), { name: p.name, config });
      else await api('POST', '/admin/v1/providers', { name: v.name, config });
      ctx.reload();
    },
  });
}

function modelForm(ctx, providers) {
  return form({
    title: 'New model', submit: 'Create model',
    fields: [
      { name: 'name', label: 'Public name (what clients ask for)', required: true },
      { name: 'config[0].provider', label: 'Provider', type: 'select', options: providers },
      { name: 'config[0].model', label: 'Upstream model (the provider\u2019s name for it)', required: true },
      { name: 'config[0].price.input', label: 'Input price (USD per 1M tokens; empty: the pricing catalog\u2019s)', type: 'number', step: 'any' },
      { name: 'config[0].price.output', label: 'Output price (USD per 1M tokens)', type: 'number', step: 'any' },
    ],
    onSubmit: async (v) => {
      const d = { provider: v['config[0].provider'], model: v['config[0].model'] };
      if (v['config[0].price.input']) {
        d.price = { input: Number(v['config[0].price.input']) };
        if (v['config[0].price.output']) d.price.output = Number(v['config[0].price.output']);
      }
      await api('POST', '/admin/v1/models', { name: v.name, config: [d] });
      ctx.reload();
    },
  });
}

function editModel(ctx, target, m) {
  clear(target).append(form({
    title: `Edit model ${m.name}`, submit: 'Save model',
    fields: [{ name: 'config', label: 'Deployments and routing (JSON, as the config file\u2019s models.<name>)', type: 'textarea', rows: 10, value: JSON.stringify(m.config, null, 2) }],
    onSubmit: async (v) => { await api('PUT', path('models', m.name), { name: m.name, config: parseJson(v.config, 'config') }); ctx.reload(); },
  }));
  target.querySelector('textarea').focus();
}

function remove(ctx, kind, name) {
  return h('button', { type: 'button', class: 'danger', onclick: async () => {
    if (!confirm(`Delete ${kind.slice(0, -1)} ${name}?`)) return;
    await api('DELETE', path(kind, name));
    ctx.reload();
  } }, 'Delete');
}

export async function providers(ctx, main) {
  const [provs, models, kinds] = await Promise.all([
    api('GET', '/admin/v1/providers'), api('GET', '/admin/v1/models'), api('GET', '/admin/v1/provider-types'),
  ]);
  const types = kinds.data.map((t) => t.name); // the gateway's own list (`wardgate providers`), never a copy here
  const editor = h('div', { 'aria-live': 'polite' });
  const modelEditor = h('div', { 'aria-live': 'polite' });
  const stored = (e) => ctx.isSystemAdmin && e.source === 'api'; // the API's rule: changes are a system admin's
  const edit = (p) => {
    clear(editor).append(providerForm(ctx, p, types));
    editor.querySelector('select').focus();
  };
  append(main, [
    notice('Providers and models stored in the database apply to every replica at once; those of the config file are read-only here, and a name the config file defines wins.'),
    section('Providers', table({
      caption: 'Providers',
      columns: [
        { key: 'name', label: 'Name' }, { key: 'type', label: 'Type', render: (p) => show(p.config.type) },
        { key: 'base_url', label: 'Base URL', render: (p) => p.config.base_url || 'the type\u2019s own' },
        { key: 'secrets', label: 'Secrets', render: secretsOf },
        { key: 'source', label: 'Source', render: source }, { key: 'active', label: 'In use', render: active },
        { key: 'updated_by', label: 'Changed by' },
      ],
      rows: provs.data,
      empty: 'No provider yet.',
      actions: (p) => stored(p) && [h('button', { type: 'button', onclick: () => edit(p) }, 'Edit'), remove(ctx, 'providers', p.name)],
    })),
    editor,
    ctx.isSystemAdmin && providerForm(ctx, null, types),
    section('Models', table({
      caption: 'Models',
      columns: [
        { key: 'name', label: 'Name' },
        { key: 'deployments', label: 'Deployments', render: (m) => deployments(m.config).map((d) => h('div', {}, `${d.provider} \u2192 ${d.model}`)) },
        { key: 'price', label: 'Prices', render: (m) => deployments(m.config).map((d) => h('div', {}, price(d))) },
        { key: 'source', label: 'Source', render: source }, { key: 'active', label: 'In use', render: active },
        { key: 'updated_by', label: 'Changed by' },
      ],
      rows: models.data,
      empty: 'No model yet.',
      actions: (m) => stored(m) && [h('button', { type: 'button', onclick: () => editModel(ctx, modelEditor, m) }, 'Edit'), remove(ctx, 'models', m.name)],
    })),
    modelEditor,
    ctx.isSystemAdmin && modelForm(ctx, provs.data.map((p) => p.name)),
  ]);
}
