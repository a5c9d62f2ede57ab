/**
 * Bad input, one kind at a time: each is refused with its own code and a message that names the
 * file and the offset; nothing is half-read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../../src/images/errors.js';
import { countEntries, decodeImage, encodeImage, type Image } from '../../src/images/framing.js';
import { IMG_COMMON_MAGIC, MAGICS } from '../../src/images/magic.js';
import { CONFORMANCE_DIR } from '../support/paths.js';

const IMAGES = join(CONFORMANCE_DIR, 'python-state', 'images');
const read = (name: string) => readFileSync(join(IMAGES, name));

function refused(buf: Uint8Array, file = 'test.img'): ImageError {
  try {
    decodeImage(buf, { file });
  } catch (err) {
    if (err instanceof ImageError) return err;
    throw err;
  }
  throw new Error('the image was accepted');
}

const u32 = (...values: number[]) => {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  return b;
};

describe('image framing: bad input', () => {
  it('refuses a bad magic, naming the file and offset', () => {
    const err = refused(u32(IMG_COMMON_MAGIC, 0x12345678, 0), 'core-1.img');
    expect(err.code).toBe('IMG_BAD_MAGIC');
    expect(err.message).toBe('core-1.img at offset 4: unknown magic 0x12345678 (not a CRIU image, or a raw pages file)');
    expect(refused(read('pages-1.img')).code).toBe('IMG_BAD_MAGIC');
  });

  it('refuses a file too short for its magic', () => {
    expect(refused(new Uint8Array([1, 2])).code).toBe('IMG_TRUNCATED');
    expect(refused(u32(IMG_COMMON_MAGIC)).code).toBe('IMG_TRUNCATED');
  });

  it('refuses an image cut inside a size header, a payload, or its extra data', () => {
    const core = read('core-15368.img');
    const cutSize = refused(core.subarray(0, 10));
    expect(cutSize.code).toBe('IMG_TRUNCATED');
    expect(cutSize.offset).toBe(8);
    const cutPayload = refused(core.subarray(0, core.length - 1));
    expect(cutPayload.code).toBe('IMG_TRUNCATED');
    expect(cutPayload.message).toMatch(/core_entry entry of \d+ bytes is cut short/);

    const pipes = read('pipes-data.img');
    const cutExtra = refused(pipes.subarray(0, pipes.length - 5));
    expect(cutExtra.code).toBe('IMG_TRUNCATED');
    expect(cutExtra.message).toMatch(/extra data of the entry at offset 8 needs 22 bytes, the file has 17/);

    const tcp = read('tcp-stream-60eb9.img');
    expect(refused(tcp.subarray(0, 9)).code).toBe('IMG_TRUNCATED');
  });

  it('refuses a payload that does not parse', () => {
    const garbage = Buffer.concat([u32(IMG_COMMON_MAGIC, MAGICS.FS, 3), Buffer.from([0x08, 0xff, 0xff])]);
    const err = refused(garbage);
    expect(err.code).toBe('IMG_BAD_PAYLOAD');
    expect(err.offset).toBe(13);
    // fs_entry without its required cwd_id/root_id
    expect(refused(Buffer.concat([u32(IMG_COMMON_MAGIC, MAGICS.FS, 0)])).message).toMatch(/lacks its required field 'cwd_id'/);
  });

  it('refuses a payload with a field our schema does not know', () => {
    const fs = read('fs-15368.img');
    // Append field 99 (varint 1) inside the payload and grow its size.
    const size = fs.readUInt32LE(8);
    const grown = Buffer.concat([fs.subarray(0, 8), u32(size + 3), fs.subarray(12), Buffer.from([0x98, 0x06, 0x01])]);
    const err = refused(grown);
    expect(err.code).toBe('IMG_UNKNOWN_FIELD');
    expect(err.message).toMatch(/fs_entry has no field number 99/);
    expect(err.offset).toBe(12 + size);
  });

  it('refuses trailing bytes after a single-entry image, and a partial size header', () => {
    const core = read('core-15368.img');
    const twice = Buffer.concat([core, core.subarray(8)]);
    const err = refused(twice);
    expect(err.code).toBe('IMG_TRAILING_BYTES');
    expect(err.offset).toBe(core.length);
    expect(refused(Buffer.concat([read('files.img'), Buffer.from([1, 0])])).code).toBe('IMG_TRUNCATED');
  });

  it('refuses a kind its schema cannot decode', () => {
    const core = read('core-15368.img');
    let err: ImageError | undefined;
    try {
      decodeImage(core, { file: 'core.img', schema: { messages: {}, enums: {} } });
    } catch (e) {
      err = e as ImageError;
    }
    expect(err?.code).toBe('IMG_UNKNOWN_KIND');
    expect(err?.message).toBe('core.img: criu-ts cannot decode CORE images');
  });

  it('decodes pending-signal images, which crit cannot', () => {
    const image: Image = { magic: 'SIGNAL', entries: [{ type: 'siginfo_entry', message: { siginfo: new Uint8Array(128).fill(7) } }] };
    expect(decodeImage(encodeImage(image))).toEqual(image);
  });

  it('refuses to encode entries that do not fit the kind', () => {
    const bad: Image = { magic: 'CORE', entries: [] };
    expect(() => encodeImage(bad)).toThrow(/exactly one entry/);
    const wrongType: Image = { magic: 'FS', entries: [{ type: 'core_entry', message: { mtype: 1 } }] };
    expect(() => encodeImage(wrongType)).toThrow(/must be a fs_entry/);
  });

  it('counts entries as crit info does', () => {
    expect(countEntries(decodeImage(read('pagemap-15368.img')))).toBe(61);
    expect(countEntries(decodeImage(read('files.img')))).toBe(21);
  });
});

describe('core images of another machine', () => {
  it('are refused with IMG_WRONG_ARCH', async () => {
    const { checkCoreMachine, coreMachine } = await import('../../src/images/core_arch.js');
    const core = decodeImage(read('core-15368.img'));
    expect(coreMachine(core)).toBe('X86_64');
    expect(() => checkCoreMachine(core, 'X86_64', 'core-15368.img')).not.toThrow();
    const err = (() => {
      try {
        checkCoreMachine(core, 'AARCH64', 'core-15368.img');
      } catch (e) {
        return e as ImageError;
      }
      throw new Error('accepted');
    })();
    expect(err.code).toBe('IMG_WRONG_ARCH');
    expect(err.message).toBe('core-15368.img: the task was dumped on X86_64, this machine is AARCH64');
    // An x86_64 mtype without its thread state.
    const bare: Image = { magic: 'CORE', entries: [{ type: 'core_entry', message: { mtype: 1 } }] };
    expect(() => checkCoreMachine(decodeImage(encodeImage(bare)), 'X86_64', 'x.img')).toThrow(/no X86_64 thread state/);
  });
});

describe('IP addresses in crit JSON', () => {
  it('render and parse as crit does (IPv4, IPv6, IPv4-mapped in hex groups)', async () => {
    const { imageFromJson, imageToJson } = await import('../../src/images/crit_json.js');
    const { spawnSync } = await import('node:child_process');
    for (const addr of ['127.0.0.1', '::1', '1:0:0:1::1', '::ffff:102:304', 'fe80::1:2', '2001:db8::']) {
      const json = {
        magic: 'INETSK',
        entries: [{ id: 1, ino: 2, family: 'INET6', type: 'STREAM', proto: 'TCP', state: 'LISTEN', src_port: 1, dst_port: 0, flags: '0x0', backlog: 1, src_addr: [addr], fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, opts: {} }],
      };
      const image = imageFromJson(json);
      const back = imageToJson(image, { pretty: true }) as { entries: Array<{ src_addr: string[] }> };
      const python = spawnSync('python3', ['-c', `import ipaddress,sys; print(ipaddress.ip_address(sys.argv[1]).compressed)`, addr], { encoding: 'utf8' });
      expect(back.entries[0]!.src_addr).toEqual([python.stdout.trim()]);
    }
  });
});
