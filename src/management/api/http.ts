// Request, reply and error types of the management API, independent of the socket side
// (http-server.ts) and of the handlers.
import type { IncomingHttpHeaders } from 'node:http';
import type { User } from '../../broker/users';
import type { ManagementContext } from './context';

export interface ApiRequest {
  method: string;
  path: string[];                 // decoded path segments, "api" first
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  remoteAddress: string | undefined;
  tls?: boolean;                  // came over HTTPS (for the same-origin check, csrf.ts)
  readBody(): Promise<string>;
}

export interface ApiReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

// A request matched to a route and authenticated: `params` are the path segments matched by
// the route's '*'s, in order.
export interface Req extends ApiRequest {
  user: User;
  params: string[];
  ctx: ManagementContext;
}

export type Handler = (r: Req) => ApiReply | Promise<ApiReply>;
export interface Route {
  pattern: string[];
  methods: Record<string, Handler>;
  // Answered without a login; the handler sees user === ANONYMOUS when the credentials fail.
  public?: boolean;
}

export const ANONYMOUS: User = Object.freeze({ name: '', passwordHash: '', hashingAlgorithm: 'rabbit_password_hashing_sha256', tags: [], limits: {} }) as User;

export class HttpError extends Error {
  constructor(readonly status: number, readonly error: string, readonly reason: string, readonly headers: Record<string, string> = {}) {
    super(`${status} ${error}: ${reason}`);
  }
}

export const notFound = () => new HttpError(404, 'Object Not Found', 'Not Found');
export const badRequest = (reason: string) => new HttpError(400, 'bad_request', reason);
export const forbidden = (reason: string) => new HttpError(403, 'access_refused', reason);

export const ok = (body: unknown): ApiReply => ({ status: 200, body });
export const noContent: ApiReply = { status: 204 };
export const created: ApiReply = { status: 201 };

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
