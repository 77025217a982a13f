// The broker's V8 flags are written in three places (see src/cli/node-flags.ts): they must agree,
// and node must accept them.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BROKER_ENV_WORDS, BROKER_NODE_FLAGS } from '../../src/cli/node-flags';
import { MAIN } from '../helpers/broker';

const root = path.join(__dirname, '..', '..');

t.test('the warren command starts node with the broker flags', async (t) => {
  const first = fs.readFileSync(path.join(root, 'src', 'cli', 'main.ts'), 'utf8').split('\n')[0];
  t.equal(first, `#!/usr/bin/env -S ${BROKER_ENV_WORDS} node ${BROKER_NODE_FLAGS.join(' ')}`);
  const built = fs.readFileSync(MAIN, 'utf8').split('\n')[0];
  t.equal(built, first, 'the compiled bin keeps the shebang');
});

t.test('npm start uses the same flags', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.equal(pkg.scripts.start, `${BROKER_ENV_WORDS} node ${BROKER_NODE_FLAGS.join(' ')} dist/src/cli/main.js start`);
});

t.test('node accepts the flags', async (t) => {
  const out = execFileSync(process.execPath, [...BROKER_NODE_FLAGS, MAIN, '--version'], { encoding: 'utf8' });
  t.match(out.trim(), /^\d+\.\d+\.\d+/);
});
