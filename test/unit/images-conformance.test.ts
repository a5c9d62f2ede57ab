/**
 * Every image CRIU 4.2 wrote in ../shared/conformance must decode to the JSON CRIU 4.2's crit
 * printed for it, and must encode back byte for byte, both from our decoded form and from
 * crit's own JSON.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageFromJson, imageToJson } from '../../src/images/crit_json.js';
import { decodeImage, encodeImage } from '../../src/images/framing.js';
import { imageFileKind, IMAGE_FILES } from '../../src/images/image_files.js';
import { formatPythonJson, parseJson } from '../../src/images/pyjson.js';
import { CONFORMANCE_DIR } from '../support/paths.js';

const sets = existsSync(CONFORMANCE_DIR)
  ? readdirSync(CONFORMANCE_DIR).filter((d) => existsSync(join(CONFORMANCE_DIR, d, 'images')))
  : [];

/** The image files of a set that have a JSON rendering (pages are raw, dump.log is a log). */
function decodableImages(set: string): string[] {
  return readdirSync(join(CONFORMANCE_DIR, set, 'images')).filter((name) => {
    const kind = imageFileKind(name);
    return kind !== undefined && IMAGE_FILES[kind.key].magic !== 'RAW';
  });
}

describe('conformance images from CRIU 4.2', () => {
  it('has image sets to check', () => {
    expect(sets.length).toBeGreaterThanOrEqual(4);
  });

  for (const set of sets) {
    describe(set, () => {
      for (const name of decodableImages(set)) {
        const file = join(CONFORMANCE_DIR, set, 'images', name);
        const jsonFile = join(CONFORMANCE_DIR, set, 'decoded', name.endsWith('.img') ? `${name}.json` : `${name}.json`);

        it(`${name} decodes to crit's JSON`, () => {
          const image = decodeImage(readFileSync(file), { file });
          const ours = formatPythonJson(imageToJson(image, { pretty: true }), 4);
          expect(ours).toBe(readFileSync(jsonFile, 'utf8').trimEnd());
        });

        it(`${name} encodes back byte for byte`, () => {
          const original = readFileSync(file);
          const fromBinary = encodeImage(decodeImage(original, { file }));
          expect(Buffer.from(fromBinary).equals(original)).toBe(true);
          const fromCritJson = encodeImage(imageFromJson(parseJson(readFileSync(jsonFile, 'utf8')), { file: jsonFile }));
          expect(Buffer.from(fromCritJson).equals(original)).toBe(true);
        });
      }
    });
  }
});
