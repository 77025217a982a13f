// List replies as RabbitMQ's management API shapes them: ?name= (substring, or ?use_regex=true
// for a regular expression; both ignore case), ?sort= (a field, dotted for nested ones) and
// ?sort_reverse=true, ?page= and ?page_size= (1..500, default 100) for a paged reply
// {filtered_count, item_count, items, page, page_count, page_size, total_count}, and ?columns=
// (comma-separated, dotted paths) to keep only some fields.
//
// Items are formatted lazily: when the sort is by name (the default) only the page's items are
// formatted, so a page of 100 out of 10,000 queues costs 100 formats, not 10,000.
import { type ApiReply, type Req, HttpError, badRequest, ok } from './http';

export interface ListSpec<T> {
  items: T[];
  name(item: T): string;
  // Tie-break for equal names (the vhost, for objects of several vhosts).
  secondary?(item: T): string;
  format(item: T): Record<string, unknown>;
}

const MAX_PAGE_SIZE = 500;

export function listReply<T>(r: Req, spec: ListSpec<T>): ApiReply {
  return ok(listBody(r.query, spec));
}

export function listBody<T>(q: URLSearchParams, spec: ListSpec<T>): unknown {
  const total = spec.items.length;
  let items = spec.items;
  const nameFilter = q.get('name');
  if (nameFilter !== null && nameFilter !== '') {
    let test: (s: string) => boolean;
    if (q.get('use_regex') === 'true') {
      let re: RegExp;
      try { re = new RegExp(nameFilter, 'i'); } catch (e) { throw badRequest(`invalid regular expression: ${(e as Error).message}`); }
      test = (s) => re.test(s);
    } else {
      const needle = nameFilter.toLowerCase();
      test = (s) => s.toLowerCase().includes(needle);
    }
    items = items.filter((i) => test(spec.name(i)));
  }
  const sortKey = q.get('sort');
  const reverse = q.get('sort_reverse') === 'true';
  let rows: Array<{ item: T; formatted?: Record<string, unknown> }>;
  if (!sortKey || sortKey === 'name') {
    const sec = spec.secondary;
    rows = [...items].sort((a, b) => byteCmp(spec.name(a), spec.name(b)) || (sec ? byteCmp(sec(a), sec(b)) : 0)).map((item) => ({ item }));
  } else {
    const path = sortKey.split('.');
    rows = items.map((item) => ({ item, formatted: spec.format(item) }));
    rows.sort((a, b) => valueCmp(dig(a.formatted!, path), dig(b.formatted!, path)));
  }
  if (reverse) rows.reverse();

  const page = q.get('page');
  const columns = parseColumns(q.get('columns'));
  const render = (row: { item: T; formatted?: Record<string, unknown> }) => project(row.formatted ?? spec.format(row.item), columns);
  if (page === null) return rows.map(render);

  const pageSizeText = q.get('page_size') ?? '100';
  const pageNo = Number(page), pageSize = Number(pageSizeText);
  if (!/^\d+$/.test(page) || !/^\d+$/.test(pageSizeText)) throw badRequest('Pagination parameters are invalid');
  if (pageNo < 1 || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${pageNo}, page size ${pageSize}`);
  }
  const pageCount = Math.ceil(rows.length / pageSize);
  if (pageNo > Math.max(1, pageCount)) {
    throw new HttpError(400, 'page_out_of_range', `Page out of range, page: ${pageNo} page size: ${pageSize}, len: ${rows.length}`);
  }
  const slice = rows.slice((pageNo - 1) * pageSize, pageNo * pageSize);
  return {
    filtered_count: rows.length,
    item_count: slice.length,
    items: slice.map(render),
    page: pageNo,
    page_count: pageCount,
    page_size: pageSize,
    total_count: total,
  };
}

// ?columns= for a single object (GET /api/queues/{vhost}/{name}?columns=...).
export function columnsOf(q: URLSearchParams, o: Record<string, unknown>): Record<string, unknown> {
  return project(o, parseColumns(q.get('columns')));
}

function parseColumns(s: string | null): string[][] | null {
  if (s === null || s.trim() === '') return null;
  return s.split(',').map((c) => c.trim()).filter(Boolean).map((c) => c.split('.'));
}

function project(o: Record<string, unknown>, columns: string[][] | null): Record<string, unknown> {
  if (columns === null) return o;
  const out: Record<string, unknown> = {};
  for (const path of columns) {
    const v = dig(o, path);
    if (v === undefined) continue;
    let dst = out;
    for (let i = 0; i < path.length - 1; i++) {
      const next = dst[path[i]];
      dst = (next !== null && typeof next === 'object' ? next : (dst[path[i]] = {})) as Record<string, unknown>;
    }
    dst[path[path.length - 1]] = v;
  }
  return out;
}

function dig(o: unknown, path: string[]): unknown {
  let v = o;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function byteCmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Numbers before strings before the rest; missing values first, as RabbitMQ sorts undefined low.
function valueCmp(a: unknown, b: unknown): number {
  const rank = (v: unknown) => (v === undefined || v === null ? 0 : typeof v === 'number' || typeof v === 'boolean' ? 1 : typeof v === 'string' ? 2 : 3);
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 1) return Number(a) - Number(b);
  if (ra === 2) return byteCmp(a as string, b as string);
  return 0;
}
