/**
 * Generates src/protocol/generated.ts from RabbitMQ's extended AMQP 0-9-1 spec XML
 * (../shared/spec/amqp0-9-1-rabbit.xml relative to the repository root).
 *
 *   npm run gen:protocol            # regenerate
 *   node dist/tools/gen-protocol.js --check   # exit 1 when the committed file is stale
 *
 * generate(xmlText) is pure, so a test can compare its output with the file on disk.
 * Node built-ins only.
 */
import * as fs from 'fs';
import * as path from 'path';

// -----------------------------------------------------------------------------------------------
// A tiny XML parser: elements, attributes, comments, the <?xml?> declaration. Text content is
// ignored (the spec carries everything in attributes; <doc> and <rule> text is not needed).

export interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

export function parseXml(text: string): XmlElement {
  const root: XmlElement = { tag: '#document', attrs: {}, children: [] };
  const stack: XmlElement[] = [root];
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt + 4);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    if (text.startsWith('<?', lt)) {
      const end = text.indexOf('?>', lt + 2);
      if (end < 0) throw new Error('unterminated processing instruction');
      i = end + 2;
      continue;
    }
    if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt);
      if (end < 0) throw new Error('unterminated CDATA');
      i = end + 3;
      continue;
    }
    if (text.startsWith('<!', lt)) {
      const end = text.indexOf('>', lt);
      i = end + 1;
      continue;
    }
    const gt = findTagEnd(text, lt);
    const body = text.slice(lt + 1, gt);
    i = gt + 1;
    if (body[0] === '/') {
      const tag = body.slice(1).trim();
      const top = stack.pop();
      if (!top || top.tag !== tag || stack.length === 0) {
        throw new Error(`mismatched closing tag </${tag}> at offset ${lt}`);
      }
      continue;
    }
    const selfClosing = body.endsWith('/');
    const inner = selfClosing ? body.slice(0, -1) : body;
    const m = /^([A-Za-z_][\w.:-]*)/.exec(inner);
    if (!m) throw new Error(`bad tag at offset ${lt}`);
    const el: XmlElement = { tag: m[1], attrs: {}, children: [] };
    const attrRe = /([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
    const rest = inner.slice(m[1].length);
    let a: RegExpExecArray | null;
    while ((a = attrRe.exec(rest))) el.attrs[a[1]] = decodeEntities(a[2] ?? a[3] ?? '');
    stack[stack.length - 1].children.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`unclosed element <${stack[stack.length - 1].tag}>`);
  return root;
}

function findTagEnd(text: string, lt: number): number {
  let q: string | null = null;
  for (let j = lt + 1; j < text.length; j++) {
    const c = text[j];
    if (q) {
      if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '>') return j;
  }
  throw new Error(`unterminated tag at offset ${lt}`);
}

// -----------------------------------------------------------------------------------------------
// Spec model

type Prim = 'bit' | 'octet' | 'short' | 'long' | 'longlong' | 'shortstr' | 'longstr' | 'timestamp' | 'table';
const PRIMS: ReadonlySet<string> = new Set(['bit', 'octet', 'short', 'long', 'longlong', 'shortstr', 'longstr', 'timestamp', 'table']);

interface Field {
  xmlName: string;
  name: string; // camelCase
  domain: string;
  type: Prim;
  reserved: boolean;
}

interface Method {
  className: string;
  xmlName: string;
  fullName: string; // 'basic.get-ok'
  iface: string; // 'BasicGetOk'
  constName: string; // 'BASIC_GET_OK'
  classId: number;
  methodId: number;
  synchronous: boolean;
  hasContent: boolean;
  deprecated: boolean;
  responses: string[];
  fields: Field[];
}

interface Constant {
  xmlName: string;
  constName: string;
  value: number;
  cls?: string;
}

interface Spec {
  major: number;
  minor: number;
  revision: number;
  port: number;
  constants: Constant[];
  classes: { name: string; constName: string; id: number; properties: Field[] }[];
  methods: Method[];
}

function camel(s: string): string {
  return s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
function pascal(s: string): string {
  const c = camel(s);
  return c[0].toUpperCase() + c.slice(1);
}
function upper(s: string): string {
  return s.replace(/-/g, '_').toUpperCase();
}

function num(v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${what}: expected a number, got ${v}`);
  return parseInt(v, 10);
}

export function buildSpec(xmlText: string): Spec {
  const doc = parseXml(xmlText);
  const amqp = doc.children.find((c) => c.tag === 'amqp');
  if (!amqp) throw new Error('no <amqp> root element');
  const domains = new Map<string, string>();
  for (const d of amqp.children.filter((c) => c.tag === 'domain')) domains.set(d.attrs.name, d.attrs.type);
  const resolve = (domain: string, where: string): Prim => {
    let t = domain;
    for (let hops = 0; hops < 10 && !PRIMS.has(t); hops++) {
      const next = domains.get(t);
      if (!next) throw new Error(`${where}: unknown domain '${t}'`);
      if (next === t && PRIMS.has(t)) break;
      t = next;
    }
    if (!PRIMS.has(t)) throw new Error(`${where}: cannot resolve domain '${domain}'`);
    return t as Prim;
  };
  const field = (f: XmlElement, where: string): Field => {
    const domain = f.attrs.domain ?? f.attrs.type;
    if (!domain) throw new Error(`${where}: field '${f.attrs.name}' has neither domain nor type`);
    return {
      xmlName: f.attrs.name,
      name: camel(f.attrs.name),
      domain,
      type: resolve(domain, `${where}.${f.attrs.name}`),
      reserved: f.attrs.reserved === '1',
    };
  };

  const constants: Constant[] = amqp.children
    .filter((c) => c.tag === 'constant')
    .map((c) => ({ xmlName: c.attrs.name, constName: upper(c.attrs.name), value: num(c.attrs.value, c.attrs.name), cls: c.attrs.class }));

  const classes: Spec['classes'] = [];
  const methods: Method[] = [];
  for (const c of amqp.children.filter((x) => x.tag === 'class')) {
    const className = c.attrs.name;
    const classId = num(c.attrs.index, className);
    classes.push({
      name: className,
      constName: `CLASS_${upper(className)}`,
      id: classId,
      properties: c.children.filter((x) => x.tag === 'field').map((f) => field(f, className)),
    });
    for (const m of c.children.filter((x) => x.tag === 'method')) {
      const fullName = `${className}.${m.attrs.name}`;
      methods.push({
        className,
        xmlName: m.attrs.name,
        fullName,
        iface: pascal(className) + pascal(m.attrs.name),
        constName: `${upper(className)}_${upper(m.attrs.name)}`,
        classId,
        methodId: num(m.attrs.index, fullName),
        synchronous: m.attrs.synchronous === '1',
        hasContent: m.attrs.content === '1',
        deprecated: m.attrs.deprecated === '1',
        responses: m.children.filter((x) => x.tag === 'response').map((r) => `${className}.${r.attrs.name}`),
        fields: m.children.filter((x) => x.tag === 'field').map((f) => field(f, fullName)),
      });
    }
  }
  // Sanity: unique names and ids
  const seen = new Set<string>();
  for (const n of [...constants.map((c) => c.constName), ...classes.map((c) => c.constName), ...methods.map((m) => m.constName)]) {
    if (seen.has(n)) throw new Error(`generated constant name collision: ${n}`);
    seen.add(n);
  }
  const keys = new Set<number>();
  for (const m of methods) {
    const k = m.classId * 65536 + m.methodId;
    if (keys.has(k)) throw new Error(`duplicate method id ${m.classId}.${m.methodId}`);
    keys.add(k);
    const fnames = new Set<string>();
    for (const f of m.fields) {
      if (f.reserved) continue;
      if (f.name === 'name') throw new Error(`${m.fullName}: a field named 'name' clashes with the discriminant`);
      if (fnames.has(f.name)) throw new Error(`${m.fullName}: duplicate field ${f.name}`);
      fnames.add(f.name);
    }
  }
  return {
    major: num(amqp.attrs.major, 'major'),
    minor: num(amqp.attrs.minor, 'minor'),
    revision: num(amqp.attrs.revision, 'revision'),
    port: num(amqp.attrs.port, 'port'),
    constants,
    classes,
    methods,
  };
}

// -----------------------------------------------------------------------------------------------
// Code generation

const TS_TYPE: Record<Prim, string> = {
  bit: 'boolean',
  octet: 'number',
  short: 'number',
  long: 'number',
  longlong: 'number',
  timestamp: 'number',
  shortstr: 'string',
  longstr: 'Buffer',
  table: 'FieldTable',
};

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function genDecoder(m: Method): string[] {
  const L: string[] = [];
  const key = hex(m.classId * 65536 + m.methodId);
  const live = m.fields.filter((f) => !f.reserved);
  L.push(`function decode${m.iface}(b: Buffer): ${m.iface} {`);
  if (m.fields.length === 0) {
    L.push(`  if (b.length !== 4) throw trailing(${key}, b.length - 4);`);
    L.push(`  return { name: '${m.fullName}' };`);
    L.push('}');
    return L;
  }
  L.push('  const n = b.length;');
  L.push('  let o = 4;');
  if (m.fields.some((f) => f.type === 'shortstr' || f.type === 'longstr')) L.push('  let l = 0;');
  let bit = 0;
  let bitsVar = 0;
  const values = new Map<string, string>();
  const need = (k: string) => `  if (o + ${k} > n) throw malformed(${key}, o + ${k} - n);`;
  m.fields.forEach((f, idx) => {
    if (f.type !== 'bit') bit = 0;
    const v = camelVar(f);
    switch (f.type) {
      case 'bit':
        if (bit === 0) {
          bitsVar++;
          L.push(need('1'));
          // the octet holding this bit and up to 7 following consecutive bits
          const group: Field[] = [];
          for (let j = idx; j < m.fields.length && j < idx + 8 && m.fields[j].type === 'bit'; j++) group.push(m.fields[j]);
          L.push(group.some((g) => !g.reserved) ? `  const bits${bitsVar} = b[o++];` : '  o += 1;');
        }
        if (!f.reserved) values.set(f.name, `(bits${bitsVar} & ${1 << bit}) !== 0`);
        bit = (bit + 1) % 8;
        break;
      case 'octet':
        L.push(need('1'));
        if (!f.reserved) L.push(`  const ${v} = b[o];`);
        L.push('  o += 1;');
        break;
      case 'short':
        L.push(need('2'));
        if (!f.reserved) L.push(`  const ${v} = b.readUInt16BE(o);`);
        L.push('  o += 2;');
        break;
      case 'long':
        L.push(need('4'));
        if (!f.reserved) L.push(`  const ${v} = b.readUInt32BE(o);`);
        L.push('  o += 4;');
        break;
      case 'longlong':
      case 'timestamp':
        L.push(need('8'));
        if (!f.reserved) L.push(`  const ${v} = readU64(b, o);`);
        L.push('  o += 8;');
        break;
      case 'shortstr':
        L.push(need('1'));
        L.push('  l = b[o++];');
        L.push(need('l'));
        if (!f.reserved) L.push(`  const ${v} = readStr(b, o, o + l);`);
        L.push('  o += l;');
        break;
      case 'longstr':
        L.push(need('4'));
        L.push('  l = b.readUInt32BE(o);');
        L.push('  o += 4;');
        L.push(need('l'));
        if (!f.reserved) L.push(`  const ${v} = Buffer.from(b.subarray(o, o + l));`);
        L.push('  o += l;');
        break;
      case 'table':
        if (!f.reserved) {
          L.push(`  const t${v} = decodeTable(b, o);`);
          L.push(`  const ${v} = t${v}.table;`);
          L.push(`  o = t${v}.end;`);
        } else {
          L.push('  o = decodeTable(b, o).end;');
        }
        break;
    }
  });
  L.push(`  if (o !== n) throw trailing(${key}, n - o);`);
  const props = live.map((f) => (values.has(f.name) ? `${f.name}: ${values.get(f.name)}` : f.name === camelVar(f) ? f.name : `${f.name}: ${camelVar(f)}`));
  L.push(`  return { name: '${m.fullName}'${props.map((p) => ', ' + p).join('')} };`);
  L.push('}');
  return L;
}

const RESERVED_WORDS = new Set(['arguments', 'type', 'global', 'internal', 'exclusive', 'immediate', 'n', 'o', 'l', 'b']);
function camelVar(f: Field): string {
  // local variable names that would shadow something or are awkward get a prefix
  return RESERVED_WORDS.has(f.name) ? `f_${f.name}` : f.name;
}

function genEncoder(m: Method): string[] {
  const L: string[] = [];
  const key = hex(m.classId * 65536 + m.methodId);
  const live = m.fields.filter((f) => !f.reserved);
  const param = live.length ? 'm' : '_m';
  L.push(`function encode${m.iface}(channel: number, ${param}: ${m.iface}): Buffer {`);
  let fixed = 4;
  const dyn: string[] = [];
  let lenIdx = 0;
  const lenVar = new Map<Field, string>();
  let bit = 0;
  for (const f of m.fields) {
    if (f.type !== 'bit') bit = 0;
    switch (f.type) {
      case 'bit':
        if (bit === 0) fixed += 1;
        bit = (bit + 1) % 8;
        break;
      case 'octet':
        fixed += 1;
        break;
      case 'short':
        fixed += 2;
        break;
      case 'long':
        fixed += 4;
        break;
      case 'longlong':
      case 'timestamp':
        fixed += 8;
        break;
      case 'shortstr':
        fixed += 1;
        if (!f.reserved) {
          const v = `l${lenIdx++}`;
          lenVar.set(f, v);
          if (f.domain === 'reply-text') {
            L.push(`  const ${camelVar(f)} = truncateShortstr(m.${f.name});`);
            L.push(`  const ${v} = shortstrLen(${camelVar(f)}, '${m.fullName} ${f.xmlName}');`);
          } else {
            L.push(`  const ${v} = shortstrLen(m.${f.name}, '${m.fullName} ${f.xmlName}');`);
          }
          dyn.push(v);
        }
        break;
      case 'longstr':
        fixed += 4;
        if (!f.reserved) dyn.push(`m.${f.name}.length`);
        break;
      case 'table':
        if (!f.reserved) {
          const v = `l${lenIdx++}`;
          lenVar.set(f, v);
          L.push(`  const ${v} = tableSize(m.${f.name});`);
          dyn.push(v);
        } else fixed += 4;
        break;
    }
  }
  L.push(`  const size = ${[String(fixed), ...dyn].join(' + ')};`);
  L.push('  const b = Buffer.allocUnsafe(size + 8);');
  L.push('  b[0] = 1;');
  L.push('  b.writeUInt16BE(channel, 1);');
  L.push('  b.writeUInt32BE(size, 3);');
  L.push(`  b.writeUInt32BE(${key}, 7);`);
  if (m.fields.length) L.push('  let o = 11;');
  bit = 0;
  let inBits = false;
  const flushBits = () => {
    if (inBits) {
      L.push('  b[o++] = bits;');
      inBits = false;
    }
  };
  let declaredBits = false;
  for (const f of m.fields) {
    if (f.type !== 'bit') {
      flushBits();
      bit = 0;
    }
    const val = `m.${f.name}`;
    switch (f.type) {
      case 'bit':
        if (bit === 0) {
          flushBits();
          L.push(`  ${declaredBits ? '' : 'let '}bits = 0;`);
          declaredBits = true;
          inBits = true;
        }
        if (!f.reserved) L.push(`  if (${val}) bits |= ${1 << bit};`);
        bit = (bit + 1) % 8;
        break;
      case 'octet':
        L.push(f.reserved ? '  b[o] = 0;' : `  b.writeUInt8(${val}, o);`);
        L.push('  o += 1;');
        break;
      case 'short':
        L.push(f.reserved ? '  b.writeUInt16BE(0, o);' : `  b.writeUInt16BE(${val}, o);`);
        L.push('  o += 2;');
        break;
      case 'long':
        L.push(f.reserved ? '  b.writeUInt32BE(0, o);' : `  b.writeUInt32BE(${val}, o);`);
        L.push('  o += 4;');
        break;
      case 'longlong':
      case 'timestamp':
        L.push(f.reserved ? '  o = writeU64(b, o, 0);' : `  o = writeU64(b, o, ${val});`);
        break;
      case 'shortstr':
        if (f.reserved) L.push('  b[o++] = 0;');
        else L.push(`  o = writeShortstr(b, o, ${f.domain === 'reply-text' ? camelVar(f) : val});`);
        break;
      case 'longstr':
        if (f.reserved) {
          L.push('  b.writeUInt32BE(0, o);');
          L.push('  o += 4;');
        } else {
          L.push(`  b.writeUInt32BE(${val}.length, o);`);
          L.push(`  o += ${val}.copy(b, o + 4) + 4;`);
        }
        break;
      case 'table':
        if (f.reserved) {
          L.push('  b.writeUInt32BE(0, o);');
          L.push('  o += 4;');
        } else L.push(`  o = writeTable(b, o, ${val});`);
        break;
    }
  }
  flushBits();
  L.push(m.fields.length ? '  b[o] = 206;' : '  b[11] = 206;');
  L.push('  return b;');
  L.push('}');
  return L;
}

function jsdoc(m: Method): string {
  const bits = [`${m.fullName} (${m.classId}.${m.methodId})`];
  if (m.synchronous) bits.push('synchronous');
  if (m.hasContent) bits.push('carries content');
  if (m.responses.length) bits.push(`response: ${m.responses.join(' | ')}`);
  if (m.deprecated) bits.push('deprecated');
  return `/** ${bits.join('; ')} */`;
}

export function generate(xmlText: string): string {
  const spec = buildSpec(xmlText);
  const out: string[] = [];
  const p = (s = '') => out.push(s);
  p('// generated by tools/gen-protocol.ts, do not edit.');
  p('// Source: ../shared/spec/amqp0-9-1-rabbit.xml (AMQP 0-9-1 with RabbitMQ extensions).');
  p('// Regenerate with `npm run gen:protocol`; test/protocol/generated.test.ts fails when stale.');
  p('/* eslint-disable */');
  p("import { AmqpError } from './errors';");
  p("import { FieldTable, decodeTable, tableSize, writeTable } from './field-table';");
  p("import { readStr, readU64, shortstrLen, truncateShortstr, writeShortstr, writeU64 } from './codec';");
  p();
  p(`export const PROTOCOL_MAJOR = ${spec.major};`);
  p(`export const PROTOCOL_MINOR = ${spec.minor};`);
  p(`export const PROTOCOL_REVISION = ${spec.revision};`);
  p(`export const DEFAULT_PORT = ${spec.port};`);
  p();
  p('// Constants: frame types, sizes and reply codes');
  for (const c of spec.constants) {
    p(`export const ${c.constName} = ${c.value};${c.cls ? ` // ${c.cls}` : ''}`);
  }
  p();
  p('/** Reply codes (class="soft-error" or "hard-error" in the spec) by code. */');
  p('export const REPLY_CODES: ReadonlyMap<number, { name: string; hard: boolean }> = new Map([');
  for (const c of spec.constants.filter((x) => x.cls === 'soft-error' || x.cls === 'hard-error')) {
    p(`  [${c.value}, { name: '${c.constName}', hard: ${c.cls === 'hard-error'} }],`);
  }
  p(']);');
  p();
  p('// Class ids');
  for (const c of spec.classes) p(`export const ${c.constName} = ${c.id};`);
  p();
  p('export const CLASS_NAMES: Readonly<Record<number, string>> = {');
  for (const c of spec.classes) p(`  ${c.id}: '${c.name}',`);
  p('};');
  p();
  p('/** Content-header property fields of each content class, in flag-bit order (bit 15 first). */');
  p('export const CLASS_PROPERTIES: Readonly<Record<number, readonly { name: string; type: string }[]>> = {');
  for (const c of spec.classes.filter((x) => x.properties.length)) {
    p(`  ${c.id}: [`);
    for (const f of c.properties) p(`    { name: '${f.name}', type: '${f.type}' },`);
    p('  ],');
  }
  p('};');
  p();
  p('// Method keys: (classId << 16) | methodId, the first 4 bytes of a method frame payload');
  for (const m of spec.methods) p(`export const ${m.constName} = ${hex(m.classId * 65536 + m.methodId)}; // ${m.fullName}`);
  p();
  p('// Method interfaces. Reserved fields are omitted; encoders write zero values for them.');
  for (const m of spec.methods) {
    p(jsdoc(m));
    p(`export interface ${m.iface} {`);
    p(`  name: '${m.fullName}';`);
    for (const f of m.fields.filter((x) => !x.reserved)) p(`  ${f.name}: ${TS_TYPE[f.type]}; // ${f.type}`);
    p('}');
  }
  p();
  p('export type AnyMethod =');
  spec.methods.forEach((m, i) => p(`  | ${m.iface}${i === spec.methods.length - 1 ? ';' : ''}`));
  p();
  p("export type MethodName = AnyMethod['name'];");
  p('export type MethodOf<N extends MethodName> = Extract<AnyMethod, { name: N }>;');
  p();
  p('/** (classId << 16) | methodId by method name. */');
  p('export const METHOD_ID: Record<MethodName, number> = {');
  for (const m of spec.methods) p(`  '${m.fullName}': ${m.constName},`);
  p('};');
  p();
  p('export interface MethodFieldInfo {');
  p('  /** camelCase property name */');
  p('  name: string;');
  p('  /** wire type: bit octet short long longlong shortstr longstr timestamp table */');
  p('  type: string;');
  p('}');
  p();
  p('export interface MethodInfo {');
  p('  name: MethodName;');
  p('  classId: number;');
  p('  methodId: number;');
  p('  synchronous: boolean;');
  p('  hasContent: boolean;');
  p('  /** names of the methods that answer this one (synchronous requests) */');
  p('  responses: readonly MethodName[];');
  p('  /** non-reserved fields in wire order */');
  p('  fields: readonly MethodFieldInfo[];');
  p('}');
  p();
  p('export const METHOD_INFO: Map<number, MethodInfo> = new Map<number, MethodInfo>([');
  for (const m of spec.methods) {
    const fields = m.fields
      .filter((f) => !f.reserved)
      .map((f) => `{ name: '${f.name}', type: '${f.type}' }`)
      .join(', ');
    const resp = m.responses.map((r) => `'${r}'`).join(', ');
    p(`  [${m.constName}, { name: '${m.fullName}', classId: ${m.classId}, methodId: ${m.methodId}, synchronous: ${m.synchronous}, hasContent: ${m.hasContent}, responses: [${resp}], fields: [${fields}] }],`);
  }
  p(']);');
  p();
  p('export function methodKey(classId: number, methodId: number): number {');
  p('  return classId * 65536 + methodId;');
  p('}');
  p();
  p('function methodLabel(key: number): string {');
  p('  const info = METHOD_INFO.get(key);');
  p('  return info ? info.name : `method ${Math.floor(key / 65536)}.${key % 65536}`;');
  p('}');
  p();
  p('function malformed(key: number, missing: number): AmqpError {');
  p('  return new AmqpError(502, `cannot decode ${methodLabel(key)}: arguments truncated (${missing} more bytes needed)`, Math.floor(key / 65536), key % 65536);');
  p('}');
  p();
  p('function trailing(key: number, extra: number): AmqpError {');
  p('  return new AmqpError(502, `cannot decode ${methodLabel(key)}: ${extra} unexpected trailing bytes`, Math.floor(key / 65536), key % 65536);');
  p('}');
  p();
  p('// Decoders (payload = class-id, method-id, arguments)');
  for (const m of spec.methods) {
    for (const l of genDecoder(m)) p(l);
    p();
  }
  p('function decodeByKey(key: number, payload: Buffer): AnyMethod {');
  p('  switch (key) {');
  for (const m of spec.methods) p(`    case ${m.constName}: return decode${m.iface}(payload);`);
  p('    default: {');
  p('      const classId = Math.floor(key / 65536);');
  p('      const methodId = key % 65536;');
  p('      const cls = CLASS_NAMES[classId];');
  p('      throw new AmqpError(540, cls === undefined');
  p('        ? `unknown class ${classId} (method ${classId}.${methodId})`');
  p('        : `unknown method ${methodId} of class ${cls} (${classId}.${methodId})`, classId, methodId);');
  p('    }');
  p('  }');
  p('}');
  p();
  p('/**');
  p(' * Decode the payload of a method frame (it starts with class-id and method-id).');
  p(' * Throws AmqpError 502 SYNTAX_ERROR on truncated or malformed arguments (and on trailing');
  p(' * bytes, as RabbitMQ does), and 540 NOT_IMPLEMENTED for an unknown class or method.');
  p(' */');
  p('export function decodeMethod(payload: Buffer): AnyMethod {');
  p('  if (payload.length < 4) throw new AmqpError(502, `method frame payload too short (${payload.length} bytes)`);');
  p('  const key = payload.readUInt32BE(0);');
  p('  try {');
  p('    return decodeByKey(key, payload);');
  p('  } catch (e) {');
  p('    // errors from the table decoder do not know which method they were in');
  p('    if (e instanceof AmqpError && e.classId === 0 && e.methodId === 0) {');
  p('      throw new AmqpError(e.code, `cannot decode ${methodLabel(key)}: ${e.message}`, Math.floor(key / 65536), key % 65536);');
  p('    }');
  p('    throw e;');
  p('  }');
  p('}');
  p();
  p('// Encoders (a complete method frame: type, channel, size, payload, frame-end)');
  for (const m of spec.methods) {
    for (const l of genEncoder(m)) p(l);
    p();
  }
  p('/** Encode a complete method frame for channel. One allocation, sized exactly. */');
  p('export function encodeMethodFrame(channel: number, m: AnyMethod): Buffer {');
  p('  switch (m.name) {');
  for (const m of spec.methods) p(`    case '${m.fullName}': return encode${m.iface}(channel, m);`);
  p('    default: {');
  p('      const never: never = m;');
  p("      throw new TypeError(`unknown method ${(never as { name?: string }).name}`);");
  p('    }');
  p('  }');
  p('}');
  return out.join('\n') + '\n';
}

// -----------------------------------------------------------------------------------------------
// CLI

export function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'src', 'protocol'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${start}`);
    dir = up;
  }
}

export function specPath(root: string): string {
  return path.resolve(root, '..', 'shared', 'spec', 'amqp0-9-1-rabbit.xml');
}

export const OUTPUT_RELATIVE = path.join('src', 'protocol', 'generated.ts');

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const root = findRepoRoot(__dirname);
  const xml = fs.readFileSync(specPath(root), 'utf8');
  const text = generate(xml);
  const outFile = path.join(root, OUTPUT_RELATIVE);
  const current = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : null;
  if (check) {
    if (current !== text) {
      process.stderr.write(`${OUTPUT_RELATIVE} is out of date: run npm run gen:protocol\n`);
      return 1;
    }
    process.stdout.write(`${OUTPUT_RELATIVE} is up to date\n`);
    return 0;
  }
  if (current === text) {
    process.stdout.write(`${OUTPUT_RELATIVE} unchanged\n`);
  } else {
    fs.writeFileSync(outFile, text);
    process.stdout.write(`wrote ${OUTPUT_RELATIVE}\n`);
  }
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`gen-protocol: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}
