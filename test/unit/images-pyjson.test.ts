import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatPythonJson, parseJson, type JsonValue } from '../../src/images/pyjson.js';

/** Python's own json.dumps of the same value, for comparison. */
function pythonDumps(json: string, indent: number | null): string {
  const script = `import json,sys; v=json.loads(sys.stdin.read()); sys.stdout.write(json.dumps(v, indent=${indent === null ? 'None' : indent}))`;
  const out = spawnSync('python3', ['-c', script], { input: json, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return out.stdout;
}

describe('Python-compatible JSON', () => {
  const samples: Array<[string, JsonValue]> = [
    ['nested', { magic: 'CORE', entries: [{ a: 1, b: [1, 2, 3], c: {}, d: [], e: 'x"y\\z\n\t\u0001é€😀', f: true, g: null }] }],
    ['big integers', { max: 18446744073709551615n, min: -9223372036854775808n, small: -1 }],
    ['empty', { entries: [] }],
    ['control characters', ['\u007f\u0000\u001f ~']],
  ];

  for (const [name, value] of samples) {
    it(`prints ${name} exactly as python's json.dumps does`, () => {
      // The JSON we hand Python must carry big integers exactly too.
      const exact = formatPythonJson(value);
      expect(formatPythonJson(value, 4)).toBe(pythonDumps(exact, 4));
      expect(formatPythonJson(value)).toBe(pythonDumps(exact, null));
    });
  }

  it('reads back integers beyond 2^53 exactly', () => {
    const parsed = parseJson('{"a": 18446744073709551615, "b": 9007199254740991, "c": -5, "d": 1.5}') as Record<string, JsonValue>;
    expect(parsed['a']).toBe(18446744073709551615n);
    expect(parsed['b']).toBe(9007199254740991);
    expect(parsed['c']).toBe(-5);
    expect(parsed['d']).toBe(1.5);
  });

  it('round-trips its own output', () => {
    const value = { x: [1, { y: 'z\u00e9' }], n: 12345678901234567890n };
    expect(parseJson(formatPythonJson(value, 4))).toEqual(value);
  });

  it('refuses malformed JSON with the offset', () => {
    expect(() => parseJson('{"a": 1,}')).toThrow(/offset 8/);
    expect(() => parseJson('[1, 2')).toThrow(SyntaxError);
    expect(() => parseJson('{"a": 1} x')).toThrow(/after the JSON value/);
  });
});
