// Copies the console's static files (HTML, CSS) next to its compiled scripts in dist/console,
// from where the HTTP listener serves them.
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const src = path.join(root, 'src', 'console');
const dst = path.join(root, 'dist', 'console');
fs.mkdirSync(dst, { recursive: true });
for (const f of fs.readdirSync(src)) {
  if (/\.(html|css|svg)$/.test(f)) fs.copyFileSync(path.join(src, f), path.join(dst, f));
}
