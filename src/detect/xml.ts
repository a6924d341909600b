/**
 * A small XML reader for OpenCV's `opencv_storage` files. Cascades use elements, attributes, text,
 * comments and the XML declaration only, so this stays tiny and runs in the browser as well as Node.
 */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Concatenated text directly inside this element (entities decoded). */
  text: string;
}

export class XmlSyntaxError extends Error {
  override readonly name = 'XmlSyntaxError';
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, body: string) => {
    if (body.startsWith('#x')) return String.fromCodePoint(parseInt(body.slice(2), 16));
    if (body.startsWith('#')) return String.fromCodePoint(parseInt(body.slice(1), 10));
    return ENTITIES[body] ?? whole;
  });
}

export function parseXml(source: string): XmlElement {
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  let i = 0;
  const n = source.length;
  while (i < n) {
    const lt = source.indexOf('<', i);
    const textEnd = lt === -1 ? n : lt;
    if (textEnd > i) stack[stack.length - 1].text += decodeEntities(source.slice(i, textEnd));
    if (lt === -1) break;
    if (source.startsWith('<!--', lt)) {
      const end = source.indexOf('-->', lt + 4);
      if (end === -1) throw new XmlSyntaxError('Unterminated comment');
      i = end + 3;
    } else if (source.startsWith('<?', lt)) {
      const end = source.indexOf('?>', lt + 2);
      if (end === -1) throw new XmlSyntaxError('Unterminated declaration');
      i = end + 2;
    } else if (source.startsWith('<!', lt)) {
      const end = source.indexOf('>', lt + 2);
      if (end === -1) throw new XmlSyntaxError('Unterminated doctype');
      i = end + 1;
    } else if (source.startsWith('</', lt)) {
      const end = source.indexOf('>', lt + 2);
      if (end === -1) throw new XmlSyntaxError('Unterminated closing tag');
      const name = source.slice(lt + 2, end).trim();
      const open = stack.pop();
      if (!open || open === root || open.name !== name) {
        throw new XmlSyntaxError(`Closing tag </${name}> does not match <${open?.name ?? 'nothing'}>`);
      }
      i = end + 1;
    } else {
      const end = source.indexOf('>', lt + 1);
      if (end === -1) throw new XmlSyntaxError('Unterminated tag');
      let body = source.slice(lt + 1, end);
      const selfClosing = body.endsWith('/');
      if (selfClosing) body = body.slice(0, -1);
      const nameMatch = /^\s*([^\s/>]+)/.exec(body);
      if (!nameMatch) throw new XmlSyntaxError(`Bad tag at offset ${lt}`);
      const attributes: Record<string, string> = {};
      const attrRe = /([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/g;
      const rest = body.slice(nameMatch[0].length);
      for (let m = attrRe.exec(rest); m; m = attrRe.exec(rest)) {
        attributes[m[1]] = decodeEntities(m[3] ?? m[4] ?? '');
      }
      const element: XmlElement = { name: nameMatch[1], attributes, children: [], text: '' };
      stack[stack.length - 1].children.push(element);
      if (!selfClosing) stack.push(element);
      i = end + 1;
    }
  }
  if (stack.length !== 1) throw new XmlSyntaxError(`Unclosed element <${stack[stack.length - 1].name}>`);
  return root;
}

/** The first child element with this name, if any. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}
