// The web console's files (dist/console: index.html, style.css and the compiled scripts of
// src/console), read once and served from memory at / and /console/*. Everything the console
// needs comes from Warren itself: no CDN, no external asset.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Asset { type: string; body: Buffer }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export const CONSOLE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function loadConsoleAssets(dir = path.resolve(__dirname, '..', '..', 'console')): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (d: string, prefix: string) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory()) { walk(path.join(d, e.name), `${prefix}${e.name}/`); continue; }
      const type = TYPES[path.extname(e.name)];
      if (type) out.set(`/console/${prefix}${e.name}`, { type, body: fs.readFileSync(path.join(d, e.name)) });
    }
  };
  walk(dir, '');
  const index = out.get('/console/index.html');
  if (index) { out.set('/', index); out.set('/index.html', index); }
  return out;
}
