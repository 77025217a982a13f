// The management API from the console: credentials from the login form (kept in
// sessionStorage for this tab) or, when the browser already authenticates with HTTP Basic, no
// header of our own. X-Warren-Console asks the server not to send a Basic challenge, so a
// failed login shows the form rather than the browser's dialog.
const KEY = 'warren.auth';

// The API's replies are JSON of many shapes; pages read the fields they show.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of every shape
export type Json = any;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

let credentials: string | null = sessionStorage.getItem(KEY);

export function setCredentials(user: string, password: string): void {
  credentials = btoa(unescape(encodeURIComponent(`${user}:${password}`)));
  sessionStorage.setItem(KEY, credentials);
}

export function forgetCredentials(): void {
  credentials = null;
  sessionStorage.removeItem(KEY);
}

export function hasOwnCredentials(): boolean {
  return credentials !== null;
}

export async function api<T = Json>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { 'X-Warren-Console': '1', ...extra };
  if (credentials) headers.Authorization = `Basic ${credentials}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'same-origin' });
  const text = await res.text();
  let parsed: unknown = undefined;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
  if (!res.ok) {
    const reason = (parsed as { reason?: string } | undefined)?.reason ?? res.statusText;
    throw new ApiError(res.status, `${res.status}: ${reason}`);
  }
  return parsed as T;
}

export const get = <T = Json>(path: string) => api<T>('GET', path);

export const enc = encodeURIComponent;
