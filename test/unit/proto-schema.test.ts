// Our own .proto files (src/images/proto) against two independent sources of facts:
//  - the descriptors Debian's CRIU 3.17 was built with (pycriu's *_pb2.py, dumped by
//    test/support/debian-descriptors.py): every message, field and enum value 3.17 knows
//    must be there with the same number, type, label, packing, default and CRIU options;
//  - the JSON CRIU 4.2's crit printed for the conformance images: every field name in it
//    must exist in our schema under the message of its image kind.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_DIR } from '../support/paths.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROTO_DIR = path.join(REPO, 'src/images/proto');
const DESCRIPTOR_SCRIPT = path.join(REPO, 'test/support/debian-descriptors.py');

const PYTHON = '/usr/bin/python3';
const PYCRIU_IMAGES = '/usr/lib/python3/dist-packages/pycriu/images';

const missingTool = !fs.existsSync(PYTHON)
  ? `${PYTHON} is missing`
  : !fs.existsSync(PYCRIU_IMAGES)
    ? `Debian's pycriu is missing (${PYCRIU_IMAGES}; install the criu package)`
    : null;

/** Debian files we do not reproduce, on purpose. */
const SKIPPED_DEBIAN_FILES: Record<string, string> = {
  'core-arm.proto': 'only x86_64 and aarch64 are supported',
  'core-mips.proto': 'only x86_64 and aarch64 are supported',
  'core-ppc64.proto': 'only x86_64 and aarch64 are supported',
  'core-s390.proto': 'only x86_64 and aarch64 are supported',
  'img-streamer.proto': 'protocol of criu-image-streamer, not an image format',
};

/** Fields 3.17 has that we leave out (their numbers must be reserved in our message). */
const OMITTED_FIELDS: Record<string, string> = {
  'core_entry.ti_arm': 'thread state of another architecture',
  'core_entry.ti_ppc64': 'thread state of another architecture',
  'core_entry.ti_s390': 'thread state of another architecture',
  'core_entry.ti_mips': 'thread state of another architecture',
};

/** Fields 3.17 knows under another name: we follow CRIU 4.2 (what wrote our images). */
const RENAMED_FIELDS: Record<string, { ours: string; why: string }> = {
  // 4.x widened the page count: the old uint32 field 2 is kept for old images under a new
  // name, and the count now lives in field 5 (uint64) with compat_nr_pages = 0.
  'pagemap_entry.nr_pages': { ours: 'compat_nr_pages', why: 'page count moved to field 5' },
};

/** Single properties that changed after 3.17, with the value 4.2 has. */
const CHANGED_PROPERTIES: Record<string, { property: keyof FieldFacts; ours: unknown; why: string }> = {
  // RPC: 4.x lets a client pass images_dir (a path) instead of a descriptor; -1 means "none".
  'criu_opts.images_dir_fd': { property: 'default', ours: '-1', why: 'images_dir alternative' },
};

/**
 * Fields and enum values we have that 3.17 lacks: the additions up to CRIU 4.2, checked
 * against 4.2's crit JSON where the conformance images use them. Listed so that a field
 * added by mistake (or a typo in a name) shows up here.
 */
const ADDED_SINCE_317 = [
  // core.proto
  'task_core_entry.stop_signo',
  'task_core_entry.membarrier_registration_mask',
  'thread_core_entry.cg_set',
  'core_entry.march.LOONGARCH64',
  'core_entry.march.RISCV64',
  // core-x86.proto
  'user_x86_cet_entry.cet',
  'user_x86_cet_entry.ssp',
  'user_x86_xsave_entry.cet',
  // core-aarch64.proto: pointer authentication keys
  ...['apiakey', 'apibkey', 'apdakey', 'apdbkey'].flatMap((k) => [`pac_address_keys.${k}_lo`, `pac_address_keys.${k}_hi`]),
  'pac_address_keys.pac_enabled_key',
  'pac_generic_keys.apgakey_lo',
  'pac_generic_keys.apgakey_hi',
  'pac_keys.pac_address_keys',
  'pac_keys.pac_generic_keys',
  'thread_info_aarch64.pac_keys',
  // creds.proto
  'creds_entry.no_new_privs',
  'creds_entry.cap_amb',
  // inventory.proto
  'plugins_entry.plugins',
  'inventory_entry.plugins_entry',
  'inventory_entry.dump_criu_run_id',
  'inventory_entry.allow_uprobes',
  // pagemap.proto
  'pagemap_entry.nr_pages',
  // fdinfo.proto, pidfd.proto
  'fd_types.PIDFD',
  'file_entry.pidfd',
  'pidfd_entry.id',
  'pidfd_entry.ino',
  'pidfd_entry.flags',
  'pidfd_entry.nspid',
  'pidfd_entry.fown',
  // sk-inet.proto, tcp-stream.proto
  'ip_opts_entry.pktinfo',
  'ip_opts_entry.tos',
  'ip_opts_entry.ttl',
  'inet_sk_entry.tcp_opts',
  'tcp_opts_entry.cork',
  'tcp_opts_entry.nodelay',
  'tcp_opts_entry.keepcnt',
  'tcp_opts_entry.keepidle',
  'tcp_opts_entry.keepintvl',
  // cgroup.proto, netdev.proto, memfd.proto
  'cg_controller_entry.is_threaded',
  'netns_entry.ipv4_sysctl',
  'memfd_inode_entry.mode',
  // rpc.proto
  'criu_network_lock_method.SKIP',
  'criu_file_validation_method.FILE_SIZE',
  'criu_file_validation_method.BUILD_ID',
  'criu_opts.skip_file_rwx_check',
  'criu_opts.unprivileged',
  'criu_opts.images_dir',
  'criu_opts.leave_stopped',
  'criu_opts.display_stats',
  'criu_opts.log_to_stderr',
  'criu_opts.allow_uprobes',
  'criu_opts.ghost_fiemap',
  'criu_opts.file_validation_method',
].sort();

/** Image kind (file name without id and .img) -> message of its entries. */
const IMAGE_KINDS: Record<string, string> = {
  inventory: 'inventory_entry',
  core: 'core_entry',
  ids: 'task_kobj_ids_entry',
  mm: 'mm_entry',
  pagemap: 'pagemap_entry', // after a first pagemap_head entry
  fs: 'fs_entry',
  files: 'file_entry',
  fdinfo: 'fdinfo_entry',
  pstree: 'pstree_entry',
  'pipes-data': 'pipe_data_entry',
  'sk-queues': 'sk_packet_entry',
  'tcp-stream': 'tcp_stream_entry',
  seccomp: 'seccomp_entry',
  timens: 'timens_entry',
  stats: 'stats_entry',
};

interface FieldFacts {
  name: string;
  number: number;
  label: 'optional' | 'required' | 'repeated';
  type: string;
  type_name: string;
  packed: boolean;
  default?: string;
  criu: Record<string, boolean | string>;
}

interface DebianSchema {
  messages: Record<string, { file: string; fields: FieldFacts[] }>;
  enums: Record<string, { file: string; values: Record<string, number> }>;
}

/** Loads every .proto of src/images/proto into one protobufjs root, as our image code does. */
function loadOurSchema(): protobuf.Root {
  const require = createRequire(import.meta.url);
  // protobufjs ships descriptor.proto as JSON but does not bundle it: register it so that
  // opts.proto's `extend google.protobuf.FieldOptions` resolves.
  protobuf.common('google/protobuf/descriptor.proto', require('protobufjs/google/protobuf/descriptor.json'));
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
  const files = fs.readdirSync(PROTO_DIR).filter((f) => f.endsWith('.proto')).sort();
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

function loadDebianSchema(): DebianSchema {
  const out = execFileSync(PYTHON, [DESCRIPTOR_SCRIPT], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(out) as DebianSchema;
}

/** The facts of one of our fields, in the shape debian-descriptors.py prints. */
function factsOf(field: protobuf.Field): FieldFacts {
  field.resolve();
  const resolved = field.resolvedType;
  const type = resolved instanceof protobuf.Type ? 'message' : resolved instanceof protobuf.Enum ? 'enum' : field.type;
  const criu: Record<string, boolean | string> = {};
  let def: string | undefined;
  for (const [key, value] of Object.entries(field.options ?? {})) {
    if (key.startsWith('(criu).')) criu[key.slice('(criu).'.length)] = value as boolean | string;
    else if (key === 'default') def = String(value);
  }
  return {
    name: field.name,
    number: field.id,
    label: field.repeated ? 'repeated' : field.required ? 'required' : 'optional',
    type,
    type_name: resolved ? resolved.fullName.replace(/^\./, '') : '',
    packed: field.repeated && field.packed,
    ...(def !== undefined ? { default: def } : {}),
    criu,
  };
}

/** All message types and enums of a root, by full name without the leading dot. */
function collect(root: protobuf.NamespaceBase): { types: Map<string, protobuf.Type>; enums: Map<string, protobuf.Enum> } {
  const types = new Map<string, protobuf.Type>();
  const enums = new Map<string, protobuf.Enum>();
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) types.set(obj.fullName.slice(1), obj);
      if (obj instanceof protobuf.Enum) enums.set(obj.fullName.slice(1), obj);
      if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) walk(obj);
    }
  };
  walk(root);
  // google.protobuf.* comes from protobufjs, not from us.
  for (const name of [...types.keys()]) if (name.startsWith('google.')) types.delete(name);
  for (const name of [...enums.keys()]) if (name.startsWith('google.')) enums.delete(name);
  return { types, enums };
}

describe('our .proto files', () => {
  const root = loadOurSchema();
  const { types } = collect(root);

  it('load and resolve with protobufjs, custom options included', () => {
    expect(types.size).toBeGreaterThan(140);
    expect(types.get('pagemap_entry')?.fields.vaddr.options).toEqual({ '(criu).hex': true });
    expect(types.get('reg_file_entry')?.fields.flags.options).toEqual({ '(criu).flags': 'rfile.flags' });
    expect(types.get('inet_sk_entry')?.fields.family.options).toEqual({ '(criu).dict': 'sk' });
    expect(types.get('inet_sk_entry')?.fields.src_addr.options).toEqual({ '(criu).ipadd': true });
    expect(types.get('unix_sk_entry')?.fields.name.options).toEqual({ '(criu).conv': 'unix_name' });
    expect(types.get('irmap_cache_entry')?.fields.dev.options).toEqual({ '(criu).dev': true, '(criu).odev': true });
  });

  it('declare the fields of every message in field-number order', () => {
    const unordered: string[] = [];
    for (const [name, type] of types) {
      const ids = type.fieldsArray.map((f) => f.id);
      if (ids.some((id, i) => i > 0 && id <= ids[i - 1])) unordered.push(`${name}: ${ids.join(',')}`);
    }
    expect(unordered).toEqual([]);
  });

  it('have no package: message names are global, as in CRIU', () => {
    for (const file of fs.readdirSync(PROTO_DIR).filter((f) => f.endsWith('.proto'))) {
      const text = fs.readFileSync(path.join(PROTO_DIR, file), 'utf8');
      expect(text, file).toMatch(/^syntax = "proto2";$/m);
      expect(text, file).not.toMatch(/^\s*package\s/m);
    }
  });
});

describe.skipIf(missingTool !== null)(`our schema against Debian's CRIU 3.17 descriptors${missingTool ? ` (skipped: ${missingTool})` : ''}`, () => {
  const root = loadOurSchema();
  const { types, enums } = collect(root);
  const debian = missingTool ? { messages: {}, enums: {} } : loadDebianSchema();
  const debianMessages = Object.entries(debian.messages).filter(([, m]) => !(m.file in SKIPPED_DEBIAN_FILES));
  const debianEnums = Object.entries(debian.enums).filter(([, e]) => !(e.file in SKIPPED_DEBIAN_FILES));

  it('reads a plausible schema from pycriu', () => {
    expect(debianMessages.length).toBeGreaterThan(120);
    expect(debian.messages.core_entry?.fields.length).toBeGreaterThan(5);
  });

  it('has every message 3.17 has', () => {
    const missing = debianMessages.map(([name]) => name).filter((name) => !types.has(name));
    expect(missing).toEqual([]);
  });

  it('has every field 3.17 has, with the same number, type, label, packing, default and options', () => {
    const problems: string[] = [];
    for (const [msgName, msg] of debianMessages) {
      const ours = types.get(msgName);
      if (!ours) continue;
      for (const theirs of msg.fields) {
        const key = `${msgName}.${theirs.name}`;
        if (key in OMITTED_FIELDS) {
          if (ours.fields[theirs.name]) problems.push(`${key}: meant to be omitted`);
          if (!isReserved(ours, theirs.number)) problems.push(`${key}: number ${theirs.number} not reserved`);
          continue;
        }
        const ourName = RENAMED_FIELDS[key]?.ours ?? theirs.name;
        const field = ours.fields[ourName];
        if (!field) {
          problems.push(`${key}: missing`);
          continue;
        }
        const expected: FieldFacts = { ...theirs, name: ourName };
        const change = CHANGED_PROPERTIES[key];
        if (change) (expected as unknown as Record<string, unknown>)[change.property] = change.ours;
        const actual = factsOf(field);
        if (JSON.stringify(sortKeys(actual)) !== JSON.stringify(sortKeys(expected))) {
          problems.push(`${key}: ours ${JSON.stringify(actual)} vs 3.17 ${JSON.stringify(expected)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('has every enum value 3.17 has, with the same number', () => {
    const problems: string[] = [];
    for (const [enumName, theirs] of debianEnums) {
      const ours = enums.get(enumName);
      if (!ours) {
        problems.push(`${enumName}: missing`);
        continue;
      }
      for (const [value, number] of Object.entries(theirs.values)) {
        if (ours.values[value] !== number) problems.push(`${enumName}.${value}: ours ${ours.values[value]}, 3.17 ${number}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('adds exactly the fields and enum values CRIU gained after 3.17', () => {
    const added: string[] = [];
    for (const [name, type] of types) {
      const theirs = debian.messages[name];
      const known = new Set(theirs?.fields.map((f) => RENAMED_FIELDS[`${name}.${f.name}`]?.ours ?? f.name));
      for (const field of type.fieldsArray) if (!known.has(field.name)) added.push(`${name}.${field.name}`);
    }
    for (const [name, ours] of enums) {
      const theirs = debian.enums[name];
      for (const value of Object.keys(ours.values)) if (!theirs || !(value in theirs.values)) added.push(`${name}.${value}`);
    }
    expect(added.sort()).toEqual(ADDED_SINCE_317);
  });
});

describe('our schema against the JSON of CRIU 4.2 crit', () => {
  const root = loadOurSchema();

  /** Checks that every key of a crit JSON object names a field of `type`, recursively. */
  function walk(type: protobuf.Type, value: unknown, where: string, problems: Set<string>): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.add(`${where}: expected an object for ${type.name}`);
      return;
    }
    for (const [key, child] of Object.entries(value)) {
      if (key === 'extra') continue; // crit's rendering of the bytes after an entry, not a field
      const field = type.fields[key];
      if (!field) {
        problems.add(`${type.name}.${key} (${where})`);
        continue;
      }
      field.resolve();
      const items = field.repeated && Array.isArray(child) ? child : [child];
      if (field.resolvedType instanceof protobuf.Type) {
        for (const item of items) walk(field.resolvedType, item, `${where}.${key}`, problems);
      } else if (field.resolvedType instanceof protobuf.Enum) {
        for (const item of items) {
          if (typeof item === 'string' && !(item in field.resolvedType.values)) problems.add(`${type.name}.${key} = ${item}`);
        }
      }
    }
  }

  const jsonFiles = fs.existsSync(CONFORMANCE_DIR)
    ? fs
        .readdirSync(CONFORMANCE_DIR)
        .filter((set) => fs.existsSync(path.join(CONFORMANCE_DIR, set, 'decoded')))
        .flatMap((set) =>
          fs.readdirSync(path.join(CONFORMANCE_DIR, set, 'decoded')).map((f) => path.join(CONFORMANCE_DIR, set, 'decoded', f)),
        )
    : [];

  it('finds decoded images to check', () => {
    expect(jsonFiles.length).toBeGreaterThan(20);
  });

  it('has every message and field name the JSON uses', () => {
    const problems = new Set<string>();
    for (const file of jsonFiles) {
      const kind = path
        .basename(file)
        .replace(/(-[0-9a-f]+)?\.img\.json$/, '')
        .replace(/-(dump|restore)\.json$/, '');
      const typeName = IMAGE_KINDS[kind];
      if (!typeName) {
        problems.add(`${path.basename(file)}: no message known for image kind ${kind}`);
        continue;
      }
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: unknown[] };
      doc.entries.forEach((entry, i) => {
        const name = kind === 'pagemap' && i === 0 ? 'pagemap_head' : typeName;
        walk(root.lookupType(name), entry, `${path.basename(file)}[${i}]`, problems);
      });
    }
    expect([...problems]).toEqual([]);
  });
});

/**
 * Whether `id` is in a `reserved` range of `type`. protobufjs parses ranges as inclusive
 * [first, last] but its own isReservedId() treats `last` as exclusive, so a single reserved
 * number never matches there.
 */
function isReserved(type: protobuf.Type, id: number): boolean {
  return (type.reserved ?? []).some((r) => Array.isArray(r) && r[0] <= id && id <= r[1]);
}

function sortKeys(value: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    out[key] = v && typeof v === 'object' && !Array.isArray(v) ? sortKeys(v) : v;
  }
  return out;
}
