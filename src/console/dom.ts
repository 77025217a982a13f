// Building DOM nodes. Everything that comes from the API is inserted as text (never as HTML),
// so names and payloads cannot inject markup.
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// A link inside the console: #/kind/encoded/parts.
export function link(text: string, ...parts: string[]): HTMLAnchorElement {
  return h('a', { href: '#/' + parts.map(encodeURIComponent).join('/') }, text);
}

// Key/value table.
export function kv(rows: Array<[string, Child]>): HTMLTableElement {
  return h('table', { class: 'kv' }, h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))));
}

export function cards(items: Array<[string, Child]>): HTMLElement {
  return h('div', { class: 'cards' }, ...items.map(([k, v]) => h('div', { class: 'card' }, h('div', { class: 'v' }, v), h('div', { class: 'k' }, k))));
}

// A small form: rows of [label, input]; onSubmit gets the form's values by input name.
export function form(title: string, fields: Array<[string, HTMLElement]>, submit: string, onSubmit: (v: Record<string, string>) => Promise<void | string>, opts: { open?: boolean; id?: string } = {}): HTMLElement {
  const msg = h('span', { class: 'muted' });
  const button = h('button', { type: 'submit', class: 'primary' }, submit);
  const f = h('form', { class: 'box', id: opts.id }, ...fields.map(([label, input]) => h('div', { class: 'row' }, h('label', {}, label), input)),
    h('div', { class: 'row' }, button, msg));
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    const values: Record<string, string> = {};
    for (const el of Array.from(f.elements)) {
      const i = el as HTMLInputElement;
      if (!i.name) continue;
      values[i.name] = i.type === 'checkbox' ? String(i.checked) : i.value;
    }
    msg.className = 'muted';
    msg.textContent = '...';
    button.disabled = true;
    onSubmit(values).then((text) => { msg.className = 'ok'; msg.textContent = typeof text === 'string' ? text : 'Done.'; },
      (err: Error) => { msg.className = 'err'; msg.textContent = err.message; }).finally(() => { button.disabled = false; });
  });
  const d = h('details', { open: opts.open ?? false }, h('summary', {}, title), f);
  return d;
}

export function input(name: string, attrs: Attrs = {}): HTMLInputElement {
  return h('input', { name, ...attrs });
}

export function select(name: string, options: string[], value?: string): HTMLSelectElement {
  return h('select', { name }, ...options.map((o) => h('option', { value: o, selected: o === value }, o)));
}

export function textarea(name: string, attrs: Attrs = {}): HTMLTextAreaElement {
  return h('textarea', { name, ...attrs });
}
