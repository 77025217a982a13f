// The console's shell: log in (form or the browser's HTTP Basic), the navigation, a hash router
// (#/queues/%2F/orders), and a refresh of the page's live parts every 5 seconds.
import { h, clear } from './dom.js';
import { ApiError, forgetCredentials, get, hasOwnCredentials, setCredentials } from './api.js';
import { overviewPage } from './pages/overview.js';
import { channelsPage, connectionsPage } from './pages/connections.js';
import { exchangesPage } from './pages/exchanges.js';
import { queuesPage } from './pages/queues.js';
import { adminPage } from './pages/admin.js';

type PageFn = (root: HTMLElement, params: string[]) => Promise<() => Promise<void>>;
const PAGES: Record<string, PageFn> = {
  overview: overviewPage, connections: connectionsPage, channels: channelsPage, exchanges: exchangesPage, queues: queuesPage, admin: adminPage,
};

const $ = (id: string) => document.getElementById(id)!;
let timer: number | undefined;
let generation = 0;

function status(text: string, isError = false): void {
  const el = $('status');
  el.textContent = text;
  el.className = isError ? 'status err' : 'status';
}

function showLogin(message = ''): void {
  clearInterval(timer);
  $('nav').hidden = true;
  clear($('who'));
  clear($('page'));
  $('login').hidden = false;
  $('login-error').textContent = message;
  ($('login-user') as HTMLInputElement).focus();
}

async function start(): Promise<void> {
  let me: { name: string | null; tags?: string[] | string };
  try {
    me = await get('/api/console/session');
  } catch (e) {
    status(`Cannot reach the management API: ${(e as Error).message}`, true);
    return;
  }
  if (me.name === null) {
    const had = hasOwnCredentials();
    forgetCredentials();
    showLogin(had ? 'Login failed.' : '');
    return;
  }
  $('login').hidden = true;
  $('nav').hidden = false;
  const who = $('who');
  clear(who);
  who.append(`${me.name}`, hasOwnCredentials() ? h('button', { type: 'button', id: 'logout', onclick: () => { forgetCredentials(); showLogin(); } }, 'Log out') : '');
  await route();
}

async function route(): Promise<void> {
  clearInterval(timer);
  const gen = ++generation;
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(decodeURIComponent);
  const name = PAGES[parts[0]] ? parts[0] : 'overview';
  for (const a of Array.from(document.querySelectorAll('#nav a'))) a.classList.toggle('active', (a as HTMLElement).dataset.page === name);
  const root = $('page');
  clear(root);
  status('');
  try {
    const refresh = await PAGES[name](root, parts.slice(1));
    if (gen !== generation) return;
    status(`Updated ${new Date().toLocaleTimeString()}`);
    timer = window.setInterval(() => {
      refresh().then(() => status(`Updated ${new Date().toLocaleTimeString()}`), onError);
    }, 5000);
  } catch (e) {
    onError(e);
  }
}

function onError(e: unknown): void {
  if (e instanceof ApiError && e.status === 401) { forgetCredentials(); showLogin('Your session has ended; log in again.'); return; }
  if (e instanceof ApiError && e.status === 404) { status('Not found: it may have been deleted.', true); return; }
  status((e as Error).message, true);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setCredentials(($('login-user') as HTMLInputElement).value, ($('login-pass') as HTMLInputElement).value);
    void start();
  });
  window.addEventListener('hashchange', () => { if ($('login').hidden) void route(); });
  void start();
});
