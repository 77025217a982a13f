// Cross-site request refusal for the management API. A browser that holds Basic credentials for
// the API sends them with any request a hostile page makes it send; what such a page can send
// without a CORS preflight (which this API never grants) is a GET, HEAD or POST with a "simple"
// content type (form encodings, text/plain) and no custom header, and the browser marks it with
// an Origin header. So a state-changing request is accepted only when
//   - its Origin, if any, is this server's own origin, and
//   - it has a JSON body (Content-Type application/json or */*+json), or no body and no
//     content type, or a header no page can set cross-site without a preflight (X-...).
// Anything else gets 403 (foreign origin) or 415 (non-JSON body), as RabbitMQ answers 415 to a
// body that is not JSON.
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from './api/http';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function checkCrossSite(method: string, headers: IncomingHttpHeaders, tls: boolean): void {
  if (SAFE_METHODS.has(method)) return;
  const origin = headers.origin;
  if (origin !== undefined && !sameOrigin(origin, headers.host, tls)) {
    throw new HttpError(403, 'forbidden', `cross-origin request from ${origin} refused`);
  }
  if (Object.keys(headers).some((h) => h.startsWith('x-'))) return;
  const type = headers['content-type'];
  if (type === undefined) {
    if (hasBody(headers)) throw new HttpError(415, 'unsupported_media_type', 'request body needs Content-Type: application/json');
    return;
  }
  const media = type.split(';')[0].trim().toLowerCase();
  if (media === 'application/json' || media.endsWith('+json')) return;
  throw new HttpError(415, 'unsupported_media_type', `Content-Type ${media} is not accepted; send application/json`);
}

function hasBody(h: IncomingHttpHeaders): boolean {
  if (h['transfer-encoding'] !== undefined) return true;
  const n = Number(h['content-length'] ?? 0);
  return Number.isFinite(n) && n > 0;
}

function sameOrigin(origin: string, host: string | undefined, tls: boolean): boolean {
  if (host === undefined || origin === 'null') return false;
  let u: URL;
  try { u = new URL(origin); } catch { return false; }
  const scheme = tls ? 'https:' : 'http:';
  if (u.protocol !== scheme) return false;
  const defaultPort = tls ? '443' : '80';
  const norm = (h: string) => {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h.toLowerCase());
    return m ? `${m[1]}:${m[2] ?? defaultPort}` : h.toLowerCase();
  };
  return norm(u.host) === norm(host);
}
