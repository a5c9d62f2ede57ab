/**
 * The two byte-to-text encodings crit uses in its JSON, reproduced exactly:
 * Python's `base64.encodebytes` (lines of 76 characters, each ending in "\n") for bytes fields
 * and extra data, and quoted-printable (`quopri.encodestring`, i.e. `binascii.b2a_qp` with its
 * defaults) for fields marked `(criu).conv = "unix_name"`.
 */

/** `base64.encodebytes(data).decode()`: "" for no data, else 76-character lines ending in "\n". */
export function encodeBase64Lines(data: Uint8Array): string {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  let out = '';
  for (let i = 0; i < text.length; i += 76) out += text.slice(i, i + 76) + '\n';
  return out;
}

/** `base64.decodebytes(text)`: ignores line breaks; throws on characters outside base64. */
export function decodeBase64Lines(text: string): Uint8Array {
  const compact = text.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new SyntaxError('not valid base64');
  }
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

const MAX_LINE = 76;
const HEX = '0123456789ABCDEF';
const NL = 0x0a;
const CR = 0x0d;

function mustQuote(data: Uint8Array, i: number, lineLength: number): boolean {
  const c = data[i]!;
  const last = i + 1 === data.length;
  const next = data[i + 1];
  if (c > 126 || c === 0x3d /* = */) return true;
  if (c === 0x2e /* . */ && lineLength === 0 && (last || next === NL || next === CR || next === 0)) return true;
  if ((c === 0x09 || c === 0x20) && last) return true;
  return c < 33 && c !== CR && c !== NL && c !== 0x09 && c !== 0x20;
}

/** `quopri.encodestring(data)`: quoted-printable text, as Python's binascii.b2a_qp writes it. */
export function encodeQuotedPrintable(data: Uint8Array): string {
  const firstNewline = data.indexOf(NL);
  const crlf = firstNewline > 0 && data[firstNewline - 1] === CR;
  const lineEnd = crlf ? '\r\n' : '\n';
  const out: string[] = [];
  let lineLength = 0;
  let i = 0;
  while (i < data.length) {
    const c = data[i]!;
    if (mustQuote(data, i, lineLength)) {
      if (lineLength + 3 >= MAX_LINE) {
        out.push('=' + lineEnd);
        lineLength = 0;
      }
      out.push('=' + HEX[c >> 4] + HEX[c & 15]);
      lineLength += 3;
      i++;
    } else if (c === NL || (c === CR && i + 1 < data.length && data[i + 1] === NL)) {
      lineLength = 0;
      // White space at the end of a line is quoted.
      const prev = out[out.length - 1];
      if (prev === ' ' || prev === '\t') out[out.length - 1] = '=' + HEX[prev.charCodeAt(0) >> 4] + HEX[prev.charCodeAt(0) & 15];
      out.push(lineEnd);
      i += c === CR ? 2 : 1;
    } else {
      if (i + 1 !== data.length && data[i + 1] !== NL && lineLength + 1 >= MAX_LINE) {
        out.push('=' + lineEnd);
        lineLength = 0;
      }
      lineLength++;
      out.push(String.fromCharCode(c));
      i++;
    }
  }
  return out.join('');
}

const isHexDigit = (c: number | undefined) =>
  c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/** `quopri.decodestring(text)`: the bytes behind quoted-printable text (binascii.a2b_qp). */
export function decodeQuotedPrintable(text: string): Uint8Array {
  const data = Buffer.from(text, 'latin1');
  const out: number[] = [];
  let i = 0;
  while (i < data.length) {
    if (data[i] !== 0x3d) {
      out.push(data[i++]!);
      continue;
    }
    i++;
    if (i >= data.length) break;
    const c = data[i]!;
    if (c === NL || c === CR) {
      // A soft line break: skip to just past the end of the line.
      while (i < data.length && data[i] !== NL) i++;
      if (i < data.length) i++;
    } else if (c === 0x3d) {
      out.push(0x3d);
      i++;
    } else if (i + 1 < data.length && isHexDigit(c) && isHexDigit(data[i + 1])) {
      out.push(parseInt(String.fromCharCode(c, data[i + 1]!), 16));
      i += 2;
    } else {
      out.push(0x3d);
    }
  }
  return Uint8Array.from(out);
}
