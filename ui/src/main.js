import { h, append, clear } from './dom.js';
import { ApiError, api, setCsrf, toSignIn } from './api.js';
import { form, notice } from './widgets.js';
import { ACCESS, PAGES } from './pages.js';

const TITLES = { overview: 'Overview', usage: 'Usage', projects: 'Projects', users: 'Users', keys: 'Keys', budgets: 'Budgets', models: 'Models', providers: 'Providers', cache: 'Cache', audit: 'Audit', chargeback: 'Chargeback', guards: 'Guards', prompts: 'Prompts', mcp: 'MCP', alerts: 'Alerts', config: 'Config' };
const root = document.getElementById('app');

function theme() {
  const saved = localStorage.getItem('wardgate-theme');
  if (saved) document.documentElement.dataset.theme = saved;
}

function toggleTheme() {
  const dark = document.documentElement.dataset.theme === 'dark' || (!document.documentElement.dataset.theme && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'light' : 'dark';
  localStorage.setItem('wardgate-theme', document.documentElement.dataset.theme);
}

function safeNext(raw) {
  // only a console page of this origin: never an open redirect
  return raw && /^\/ui\/[a-z]+(\/[^/\\]*)*(\?.*)?$/.test(raw) && !raw.startsWith('/ui/signin') ? raw : '/ui/overview';
}

async function signIn() {
  document.title = 'Sign in · Wardgate';
  const next = safeNext(new URLSearchParams(location.search).get('next'));
  const methods = await api('GET', '/admin/v1/session/methods');
  clear(root).append(h('main', { id: 'main', class: 'signin' },
    h('h1', {}, 'Wardgate console'),
    methods.oidc && h('p', {}, h('a', { class: 'button', href: '/admin/v1/session/oidc?next=' + encodeURIComponent(next) }, 'Sign in with your identity provider')),
    form({
      title: 'Sign in', submit: 'Sign in',
      fields: [{ name: 'key', label: 'Key (master key, or a key bound to your user)', type: 'password', required: true, autocomplete: 'current-password' }],
      onSubmit: async (v) => {
        await api('POST', '/admin/v1/session', { key: v.key });
        location.assign(next);
      },
    })));
  document.getElementById('main').dataset.ready = 'true';
}

async function render(session) {
  const [, , page = 'overview'] = location.pathname.split('/');
  const show = PAGES[page] ? page : 'overview';
  const roles = session.project_roles;
  const ctx = {
    session,
    isSystemAdmin: session.system_role === 'admin',
    adminsAProject: session.system_role === 'admin' || Object.values(roles).includes('admin'),
    role: (projectId) => session.system_role || roles[projectId] || null,
    reload: () => render(session),
    go: (path) => { history.pushState(null, '', path); return render(session); },
  };
  const allowed = (key) => !ACCESS[key] || ACCESS[key](ctx);
  const nav = h('nav', { 'aria-label': 'Pages' }, h('ul', {}, Object.entries(TITLES).filter(([key]) => allowed(key)).map(([key, title]) =>
    h('li', {}, h('a', { href: '/ui/' + key, 'data-nav': true, 'aria-current': key === show ? 'page' : null }, title)))));
  const main = h('main', { id: 'main', tabindex: '-1' }, h('h1', {}, TITLES[show]));
  const who = session.actor === 'master' ? 'master key' : session.actor;
  const header = h('header', {},
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h('span', { class: 'brand' }, 'Wardgate'),
    h('span', { class: 'who' }, `${who} · ${session.system_role ? 'system ' + session.system_role : 'project roles'}`),
    h('button', { type: 'button', onclick: toggleTheme }, 'Theme'),
    h('button', { type: 'button', onclick: async () => { await api('DELETE', '/admin/v1/session'); location.assign('/ui/signin'); } }, 'Sign out'));
  clear(root).append(header, h('div', { class: 'layout' }, nav, main));
  document.title = `${TITLES[show]} · Wardgate`;
  try {
    if (allowed(show)) await PAGES[show](ctx, main);
    else append(main, [notice('Your roles do not include this page.', 'error')]);
  } catch (e) {
    if (e && e.status) append(main, [notice(e.message, 'error')]);
    else throw e;
  }
  main.dataset.readyAt = String(Math.round(performance.now()));
  main.dataset.ready = 'true';
}

// A button's change the API refused (forms show theirs beside the field): its message, verbatim, at the top of the page.
addEventListener('unhandledrejection', (event) => {
  if (!(event.reason instanceof ApiError)) return;
  event.preventDefault();
  const main = document.getElementById('main');
  main.querySelector(':scope > .notice.refused')?.remove();
  const note = notice(event.reason.message, 'error');
  note.classList.add('refused');
  main.querySelector('h1').after(note);
});

async function start() {
  theme();
  if (location.pathname.startsWith('/ui/signin')) return signIn();
  let session;
  try {
    session = await api('GET', '/admin/v1/session');
  } catch (e) {
    return toSignIn();
  }
  setCsrf(session.csrf_token);
  document.addEventListener('click', (event) => {
    const a = event.target.closest && event.target.closest('a[data-nav]');
    if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    history.pushState(null, '', a.getAttribute('href'));
    render(session);
  });
  addEventListener('popstate', () => render(session));
  await render(session);
}

start();
