// A list of API objects as a table with a name filter, sortable columns and paging, all done by
// the server (?name=, ?sort=, ?page=, ?columns=), so a list of 10,000 queues stays quick.
import { h, clear } from './dom.js';
import { get, type Json } from './api.js';
import { dig, num } from './format.js';

export interface Column {
  key: string;                 // dotted path in the API object; also the sort key
  label: string;
  numeric?: boolean;
  render?: (row: Json) => Node | string;
  sort?: string | false;       // the sort key, if not `key`; false: not sortable
}

export interface TableState { name: string; sort: string; reverse: boolean; page: number }

export interface ServerTable { el: HTMLElement; refresh(): Promise<void> }

export function serverTable(path: string, columns: Column[], opts: { pageSize?: number; id?: string; empty?: string; extraColumns?: string[] } = {}): ServerTable {
  const state: TableState = { name: '', sort: 'name', reverse: false, page: 1 };
  const pageSize = opts.pageSize ?? 50;
  const filter = h('input', { type: 'search', placeholder: 'Filter by name (regex with re:)', 'aria-label': 'Filter' });
  const info = h('span', { class: 'muted' });
  const table = h('table', { id: opts.id });
  const pager = h('div', { class: 'pager' });
  const el = h('div', {}, h('div', { class: 'toolbar' }, filter, info), table, pager);
  let timer: number | undefined;
  filter.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => { state.name = filter.value; state.page = 1; void refresh(); }, 250);
  });

  async function refresh(): Promise<void> {
    const q = new URLSearchParams({ page: String(state.page), page_size: String(pageSize), sort: state.sort, sort_reverse: String(state.reverse) });
    if (state.name.startsWith('re:')) { q.set('name', state.name.slice(3)); q.set('use_regex', 'true'); } else if (state.name) q.set('name', state.name);
    const cols = new Set<string>([...columns.map((c) => c.key.split('.')[0]), ...(opts.extraColumns ?? [])]);
    q.set('columns', [...cols].join(','));
    let res: { items: Json[]; filtered_count: number; total_count: number; page_count: number };
    try {
      res = await get(`${path}${path.includes('?') ? '&' : '?'}${q}`);
    } catch (e) {
      if ((e as { status?: number }).status === 400 && state.page > 1) { state.page = 1; return refresh(); }
      throw e;
    }
    clear(table);
    const head = h('tr', {}, ...columns.map((c) => {
      const sortKey = c.sort === false ? null : c.sort ?? c.key;
      const th = h('th', { class: `${c.numeric ? 'n ' : ''}${sortKey ? 'sortable' : ''}${sortKey === state.sort ? (state.reverse ? ' sorted-desc' : ' sorted-asc') : ''}` }, c.label);
      if (sortKey) th.addEventListener('click', () => {
        if (state.sort === sortKey) state.reverse = !state.reverse; else { state.sort = sortKey; state.reverse = Boolean(c.numeric); }
        void refresh();
      });
      return th;
    }));
    table.appendChild(h('thead', {}, head));
    const body = h('tbody');
    for (const row of res.items) {
      body.appendChild(h('tr', {}, ...columns.map((c) => h('td', { class: c.numeric ? 'n' : '' }, c.render ? c.render(row) : c.numeric ? num(dig(row, c.key)) : String(dig(row, c.key) ?? '')))));
    }
    if (res.items.length === 0) body.appendChild(h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, opts.empty ?? 'Nothing here.')));
    table.appendChild(body);
    info.textContent = `${num(res.filtered_count)} of ${num(res.total_count)}`;
    clear(pager);
    if (res.page_count > 1) {
      const go = (p: number) => { state.page = p; void refresh(); };
      pager.append(
        h('button', { type: 'button', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, '‹ Previous'),
        `Page ${state.page} of ${res.page_count}`,
        h('button', { type: 'button', disabled: state.page >= res.page_count, onclick: () => go(state.page + 1) }, 'Next ›'),
      );
    }
  }
  return { el, refresh };
}

// A plain table of rows already fetched.
export function simpleTable(columns: Column[], rows: Json[], empty = 'Nothing here.'): HTMLTableElement {
  const cellOf = (c: Column, row: Json) => h('td', { class: c.numeric ? 'n' : '' }, c.render ? c.render(row) : c.numeric ? num(dig(row, c.key)) : String(dig(row, c.key) ?? ''));
  const body = rows.length === 0
    ? [h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty))]
    : rows.map((row) => h('tr', {}, ...columns.map((c) => cellOf(c, row))));
  return h('table', {},
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { class: c.numeric ? 'n' : '' }, c.label)))),
    h('tbody', {}, ...body));
}
