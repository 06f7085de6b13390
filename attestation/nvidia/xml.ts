/**
 * A deliberately small XML reader and inclusive Canonical XML (C14N 1.0 /
 * 1.1) writer, enough for NVIDIA RIMs (signed SWID tags): elements,
 * attributes, namespaces, text and character references. DTDs, comments,
 * CDATA sections and processing instructions (other than a leading XML
 * declaration) are refused, so nothing the canonical form would treat
 * specially can hide in the input. `xml:*` attribute inheritance into a
 * canonicalized subtree is not implemented (RIMs carry none; such input is
 * refused).
 */
import { MalformedEvidenceError } from '../errors.ts';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const MAX_DEPTH = 64;
const MAX_CHARS = 4 * 1024 * 1024;

/** Text content. */
export interface XmlText {
  type: 'text';
  value: string;
}

/** An attribute (not a namespace declaration). */
export interface XmlAttr {
  qname: string;
  prefix: string;
  local: string;
  /** Resolved namespace URI ('' for unprefixed attributes). */
  ns: string;
  value: string;
}

/** An element with resolved names. */
export interface XmlElement {
  type: 'element';
  qname: string;
  prefix: string;
  local: string;
  /** Resolved namespace URI of the element ('' when none). */
  ns: string;
  attrs: XmlAttr[];
  /** Namespace declarations made on this element (prefix '' = default). */
  declared: Map<string, string>;
  /** All namespaces in scope here (prefix '' = default). */
  inScope: Map<string, string>;
  children: Array<XmlElement | XmlText>;
  parent: XmlElement | undefined;
}

const fail = (why: string): never => {
  throw new MalformedEvidenceError(`XML: ${why}`);
};

const NAME = /[A-Za-z_][-A-Za-z0-9._]*(?::[A-Za-z_][-A-Za-z0-9._]*)?/y;
const SPACE = /[ \t\n]*/y;

function decodeRefs(s: string): string {
  return s.replace(/&([^;&]*);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) return fail('bare "&"');
    switch (ref) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    const n = /^#x[0-9a-fA-F]{1,6}$/.test(ref) ? parseInt(ref.slice(2), 16) : /^#[0-9]{1,7}$/.test(ref) ? parseInt(ref.slice(1), 10) : NaN;
    if (!Number.isFinite(n) || n === 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return fail(`unsupported reference &${ref};`);
    return String.fromCodePoint(n);
  });
}

function splitName(qname: string): [string, string] {
  const i = qname.indexOf(':');
  return i < 0 ? ['', qname] : [qname.slice(0, i), qname.slice(i + 1)];
}

/** Parses an XML document into its root element. Throws `MalformedEvidenceError`. */
export function parseXml(input: string): XmlElement {
  if (input.length > MAX_CHARS) fail('document too large');
  const src = input.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let p = 0;
  const skipSpace = () => {
    SPACE.lastIndex = p;
    SPACE.exec(src);
    p = SPACE.lastIndex;
  };
  const name = (): string => {
    NAME.lastIndex = p;
    const m = NAME.exec(src);
    if (!m) return fail(`name expected at ${p}`);
    p = NAME.lastIndex;
    return m[0];
  };
  skipSpace();
  if (src.startsWith('<?xml', p)) {
    const end = src.indexOf('?>', p);
    if (end < 0) fail('unterminated XML declaration');
    p = end + 2;
  }
  skipSpace();
  let root: XmlElement | undefined;
  const stack: XmlElement[] = [];
  while (p < src.length) {
    if (src.startsWith('<!', p) || src.startsWith('<?', p)) fail(`unsupported construct at ${p}`);
    if (src.startsWith('</', p)) {
      p += 2;
      const n = name();
      skipSpace();
      if (src[p] !== '>') fail(`">" expected at ${p}`);
      p++;
      const open = stack.pop();
      if (!open || open.qname !== n) fail(`mismatched end tag </${n}>`);
      if (stack.length === 0) {
        skipSpace();
        if (p !== src.length) fail('content after the root element');
        break;
      }
      continue;
    }
    if (src[p] === '<') {
      p++;
      const qname = name();
      const rawAttrs: Array<[string, string]> = [];
      for (;;) {
        const before = p;
        skipSpace();
        if (src[p] === '>' || src.startsWith('/>', p)) break;
        if (p === before) fail(`space expected at ${p}`);
        const an = name();
        skipSpace();
        if (src[p] !== '=') fail(`"=" expected at ${p}`);
        p++;
        skipSpace();
        const q = src[p];
        if (q !== '"' && q !== "'") return fail(`quoted value expected at ${p}`);
        const end = src.indexOf(q, p + 1);
        if (end < 0) fail('unterminated attribute value');
        const raw = src.slice(p + 1, end);
        if (raw.includes('<')) fail('"<" in attribute value');
        rawAttrs.push([an, decodeRefs(raw.replace(/[\t\n]/g, ' '))]);
        p = end + 1;
      }
      const selfClosing = src.startsWith('/>', p);
      p += selfClosing ? 2 : 1;
      const parent = stack[stack.length - 1];
      if (!parent && root) fail('more than one root element');
      if (stack.length >= MAX_DEPTH) fail('nesting too deep');
      const declared = new Map<string, string>();
      const plain: Array<[string, string]> = [];
      const seen = new Set<string>();
      for (const [an, v] of rawAttrs) {
        if (seen.has(an)) fail(`duplicate attribute ${an}`);
        seen.add(an);
        if (an === 'xmlns') declared.set('', v);
        else if (an.startsWith('xmlns:')) {
          if (v === '') fail('empty prefixed namespace');
          declared.set(an.slice(6), v);
        } else plain.push([an, v]);
      }
      const inScope = new Map(parent ? parent.inScope : [['xml', XML_NS]]);
      for (const [k, v] of declared) inScope.set(k, v);
      const [prefix, local] = splitName(qname);
      const ns = inScope.get(prefix) ?? (prefix === '' ? '' : fail(`undeclared prefix ${prefix}`));
      const attrs: XmlAttr[] = plain.map(([an, value]) => {
        const [ap, al] = splitName(an);
        if (ap === 'xml') fail('xml:* attributes are not supported');
        const ans = ap === '' ? '' : (inScope.get(ap) ?? fail(`undeclared prefix ${ap}`));
        return { qname: an, prefix: ap, local: al, ns: ans, value };
      });
      const keys = new Set(attrs.map((a) => `${a.ns}\u0000${a.local}`));
      if (keys.size !== attrs.length) fail('duplicate expanded attribute name');
      const el: XmlElement = { type: 'element', qname, prefix, local, ns, attrs, declared, inScope, children: [], parent };
      if (parent) parent.children.push(el);
      else root = el;
      if (!selfClosing) stack.push(el);
      else if (!parent) {
        skipSpace();
        if (p !== src.length) fail('content after the root element');
        break;
      }
      continue;
    }
    const next = src.indexOf('<', p);
    const end = next < 0 ? src.length : next;
    const raw = src.slice(p, end);
    const parent = stack[stack.length - 1];
    if (!parent) fail('text outside the root element');
    if (raw.includes(']]>')) fail('"]]>" in text');
    parent!.children.push({ type: 'text', value: decodeRefs(raw) });
    p = end;
  }
  if (!root || stack.length > 0) fail('document is incomplete');
  return root!;
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');
}

function escapeAttr(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#x9;')
    .replace(/\n/g, '&#xA;')
    .replace(/\r/g, '&#xD;');
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Inclusive canonical form (C14N 1.0 / 1.1 without comments) of the subtree
 * at `apex`, leaving out `exclude` (an enveloped signature) and its subtree.
 */
export function canonicalize(apex: XmlElement, exclude?: XmlElement): string {
  const out: string[] = [];
  const walk = (el: XmlElement, isApex: boolean) => {
    out.push('<', el.qname);
    const parentScope = isApex ? undefined : el.parent?.inScope;
    const ns: Array<[string, string]> = [];
    for (const [prefix, uri] of el.inScope) {
      if (prefix === 'xml') continue;
      const inherited = parentScope?.get(prefix);
      if (prefix === '') {
        if (uri === '' ? (inherited ?? '') === '' : inherited === uri) continue;
      } else if (inherited === uri) continue;
      ns.push([prefix, uri]);
    }
    ns.sort((a, b) => cmp(a[0], b[0]));
    for (const [prefix, uri] of ns) out.push(prefix === '' ? ' xmlns="' : ` xmlns:${prefix}="`, escapeAttr(uri), '"');
    const attrs = [...el.attrs].sort((a, b) => cmp(a.ns, b.ns) || cmp(a.local, b.local));
    for (const a of attrs) out.push(' ', a.qname, '="', escapeAttr(a.value), '"');
    out.push('>');
    for (const c of el.children) {
      if (c.type === 'text') out.push(escapeText(c.value));
      else if (c !== exclude) walk(c, false);
    }
    out.push('</', el.qname, '>');
  };
  walk(apex, true);
  return out.join('');
}

/** Child elements of `el` with the given namespace and local name. */
export function childElements(el: XmlElement, ns: string, local: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => c.type === 'element' && c.ns === ns && c.local === local);
}

/** The only such child, or a `MalformedEvidenceError`. */
export function onlyChild(el: XmlElement, ns: string, local: string): XmlElement {
  const found = childElements(el, ns, local);
  if (found.length !== 1) fail(`expected exactly one ${local} in ${el.local}, found ${found.length}`);
  return found[0]!;
}

/** Concatenated text content of an element's direct text children. */
export function textOf(el: XmlElement): string {
  return el.children.map((c) => (c.type === 'text' ? c.value : '')).join('');
}

/** An attribute's value by namespace and local name. */
export function attr(el: XmlElement, local: string, ns = ''): string | undefined {
  return el.attrs.find((a) => a.local === local && a.ns === ns)?.value;
}
