/**
 * JSON text exactly as CRIU's crit prints it, and a reader that keeps 64-bit integers exact.
 *
 * crit is Python: it prints with `json.dump(obj, indent=4)` (or no indent), escapes every
 * non-ASCII character (`ensure_ascii`), and its integers have arbitrary precision. JavaScript's
 * JSON loses integers above 2^53, so values here are `JsonValue`, where integers that do not fit
 * a double exactly are `bigint`.
 */

export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

export type JsonObject = { [key: string]: JsonValue };

/** Prints `value` as Python's `json.dumps(value, indent=indent)` would. */
export function formatPythonJson(value: JsonValue, indent?: number): string {
  const out: string[] = [];
  writeValue(out, value, indent, 0);
  return out.join('');
}

function writeValue(out: string[], value: JsonValue, indent: number | undefined, depth: number): void {
  if (value === null) {
    out.push('null');
  } else if (typeof value === 'boolean') {
    out.push(value ? 'true' : 'false');
  } else if (typeof value === 'number') {
    out.push(formatNumber(value));
  } else if (typeof value === 'bigint') {
    out.push(value.toString());
  } else if (typeof value === 'string') {
    out.push(quoteAscii(value));
  } else if (Array.isArray(value)) {
    writeContainer(out, '[', ']', value, indent, depth, (item) => writeValue(out, item, indent, depth + 1));
  } else {
    writeContainer(out, '{', '}', Object.entries(value), indent, depth, ([key, item]) => {
      out.push(quoteAscii(key), ': ');
      writeValue(out, item, indent, depth + 1);
    });
  }
}

function writeContainer<T>(
  out: string[],
  open: string,
  close: string,
  items: T[],
  indent: number | undefined,
  depth: number,
  writeItem: (item: T) => void,
): void {
  if (items.length === 0) {
    out.push(open, close);
    return;
  }
  out.push(open);
  const inner = indent === undefined ? '' : '\n' + ' '.repeat(indent * (depth + 1));
  const separator = indent === undefined ? ', ' : ',';
  items.forEach((item, i) => {
    if (i > 0) out.push(separator);
    out.push(inner);
    writeItem(item);
  });
  if (indent !== undefined) out.push('\n' + ' '.repeat(indent * depth));
  out.push(close);
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return value.toString();
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  // Python's float repr: shortest round-trip digits, like JavaScript's, but always with '.0' or
  // an exponent of at least two digits.
  const text = value.toString();
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** A JSON string literal with every character outside printable ASCII escaped. */
function quoteAscii(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const code = text.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code < 0x20 || code > 0x7e) out += '\\u' + code.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Parses JSON text, keeping integers beyond 2^53 exact as `bigint`. Throws SyntaxError. */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  parser.skipSpace();
  const value = parser.value();
  parser.skipSpace();
  if (!parser.atEnd()) parser.fail('unexpected text after the JSON value');
  return value;
}

class Parser {
  #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  atEnd(): boolean {
    return this.#pos >= this.#text.length;
  }

  fail(what: string): never {
    throw new SyntaxError(`JSON: ${what} at offset ${this.#pos}`);
  }

  skipSpace(): void {
    while (this.#pos < this.#text.length && ' \t\n\r'.includes(this.#text[this.#pos]!)) this.#pos++;
  }

  value(): JsonValue {
    const ch = this.#text[this.#pos];
    switch (ch) {
      case '{':
        return this.object();
      case '[':
        return this.array();
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return this.number();
        return this.fail(ch === undefined ? 'unexpected end of text' : `unexpected '${ch}'`);
    }
  }

  literal<T extends JsonValue>(word: string, value: T): T {
    if (!this.#text.startsWith(word, this.#pos)) this.fail(`expected '${word}'`);
    this.#pos += word.length;
    return value;
  }

  number(): number | bigint {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.#text.slice(this.#pos, this.#pos + 64));
    if (!match) this.fail('bad number');
    this.#pos += match[0].length;
    if (match[2] === undefined && match[3] === undefined) {
      const n = Number(match[0]);
      return Number.isSafeInteger(n) ? n : BigInt(match[0]);
    }
    return Number(match[0]);
  }

  string(): string {
    this.#pos++; // opening quote
    let out = '';
    for (;;) {
      const ch = this.#text[this.#pos++];
      if (ch === undefined) this.fail('unterminated string');
      if (ch === '"') return out;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const esc = this.#text[this.#pos++];
      switch (esc) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = this.#text.slice(this.#pos, this.#pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.#pos += 4;
          break;
        }
        default:
          this.fail('bad escape');
      }
    }
  }

  array(): JsonValue[] {
    this.#pos++;
    const items: JsonValue[] = [];
    this.skipSpace();
    if (this.#text[this.#pos] === ']') {
      this.#pos++;
      return items;
    }
    for (;;) {
      this.skipSpace();
      items.push(this.value());
      this.skipSpace();
      const ch = this.#text[this.#pos++];
      if (ch === ']') return items;
      if (ch !== ',') this.fail("expected ',' or ']'");
    }
  }

  object(): JsonObject {
    this.#pos++;
    const obj: JsonObject = {};
    this.skipSpace();
    if (this.#text[this.#pos] === '}') {
      this.#pos++;
      return obj;
    }
    for (;;) {
      this.skipSpace();
      if (this.#text[this.#pos] !== '"') this.fail('expected a key');
      const key = this.string();
      this.skipSpace();
      if (this.#text[this.#pos++] !== ':') this.fail("expected ':'");
      this.skipSpace();
      obj[key] = this.value();
      this.skipSpace();
      const ch = this.#text[this.#pos++];
      if (ch === '}') return obj;
      if (ch !== ',') this.fail("expected ',' or '}'");
    }
  }
}
