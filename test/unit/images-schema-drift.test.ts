import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs build script without type declarations
import { generate, SCHEMA_FILE, TYPES_FILE } from '../../scripts/gen-image-schema.mjs';

describe('generated image schema', () => {
  it('is what src/images/proto/*.proto generate (run scripts/gen-image-schema.mjs after editing a .proto)', () => {
    const fresh = generate();
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(fresh.schema);
    expect(readFileSync(TYPES_FILE, 'utf8')).toBe(fresh.types);
  });
});
