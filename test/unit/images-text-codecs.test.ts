import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  decodeBase64Lines, decodeQuotedPrintable, encodeBase64Lines, encodeQuotedPrintable,
} from '../../src/images/text_codecs.js';

/** Runs a Python expression over hex-encoded inputs and returns one output line per input. */
function python(expr: string, inputs: Uint8Array[]): string[] {
  const script = [
    'import sys, base64, quopri, json',
    'out = []',
    'for line in sys.stdin.read().split():',
    '    data = bytes.fromhex(line) if line != "-" else b""',
    `    out.append(${expr})`,
    'print(json.dumps(out))',
  ].join('\n');
  const input = inputs.map((b) => (b.length ? Buffer.from(b).toString('hex') : '-')).join('\n');
  const res = spawnSync('python3', ['-c', script], { input, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(res.stderr);
  return JSON.parse(res.stdout);
}

function samples(): Uint8Array[] {
  const text = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
  const out = [
    new Uint8Array(0),
    text('/tmp/socket.sock'),
    text('\0abstract-name'),
    text('trailing space '),
    text('tab\tinside and at end\t'),
    text('line one \nline two\t\nend'),
    text('crlf\r\nfirst then lf\nx'),
    text('.'),
    text('.\nstart dot'),
    text('equals=sign'),
    text('x'.repeat(200)),
    text('=' .repeat(40)),
    text('a'.repeat(74) + ' b'),
  ];
  // Deterministic pseudo-random bytes of many lengths.
  let seed = 7;
  for (let n = 1; n < 300; n += 37) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      b[i] = seed >>> 24;
    }
    out.push(b);
  }
  return out;
}

describe('crit text codecs', () => {
  const inputs = samples();

  it("base64 matches python's base64.encodebytes and decodes back", () => {
    const expected = python('base64.encodebytes(data).decode()', inputs);
    inputs.forEach((data, i) => {
      expect(encodeBase64Lines(data)).toBe(expected[i]);
      expect(decodeBase64Lines(expected[i]!)).toEqual(data);
    });
  });

  it("quoted-printable matches python's quopri.encodestring", () => {
    const expected = python('quopri.encodestring(data).decode("latin1")', inputs);
    inputs.forEach((data, i) => expect(encodeQuotedPrintable(data)).toBe(expected[i]));
  });

  it("quoted-printable decodes as python's quopri.decodestring", () => {
    const encoded = inputs.map((d) => new Uint8Array(Buffer.from(encodeQuotedPrintable(d), 'latin1')));
    const expected = python('quopri.decodestring(data).hex()', encoded);
    encoded.forEach((e, i) => {
      expect(Buffer.from(decodeQuotedPrintable(Buffer.from(e).toString('latin1'))).toString('hex')).toBe(expected[i]);
    });
  });

  it('refuses text that is not base64', () => {
    expect(() => decodeBase64Lines('not base64!')).toThrow(SyntaxError);
  });
});
