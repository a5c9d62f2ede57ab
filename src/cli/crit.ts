#!/usr/bin/env node
/**
 * crit-ts: the CRIU image tool, command for command and byte for byte like CRIU's crit.
 *
 *   crit-ts decode [-i IN] [-o OUT] [--pretty]   binary image -> JSON
 *   crit-ts encode [-i IN] [-o OUT]              JSON -> binary image
 *   crit-ts show IN [--nopl]                     decode --pretty to stdout
 *   crit-ts info IN                              kind and number of entries
 *   crit-ts x DIR ps|fds|mems|rss                explore an images directory
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CriuTsError } from '../errors.js';
import { imageFromJson, imageToJson } from '../images/crit_json.js';
import { countEntries, decodeImage, encodeImage } from '../images/framing.js';
import { ImageDir } from '../images/image_dir.js';
import { formatPythonJson, parseJson } from '../images/pyjson.js';
import { EXPLORERS } from './crit_explore.js';

const VERSION = '0.1.0';

const USAGE = `usage: crit-ts [-h] [--version] {decode,encode,info,x,show} ...

CRiu Image Tool (criu-ts)

commands:
  decode [-i IN] [-o OUT] [--pretty]   convert a criu image from binary to JSON
  encode [-i IN] [-o OUT]              convert a criu image from JSON to binary
  info IN                              show the kind and entry count of an image
  x DIR {ps,fds,mems,rss}              explore an images directory
  show IN [--nopl]                     convert an image to human-readable JSON
`;

class UsageError extends CriuTsError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

function readInput(path: string | undefined): Buffer {
  return path === undefined ? readFileSync(0) : readFileSync(path);
}

function decode(args: string[], prettyDefault: boolean): void {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      in: { type: 'string', short: 'i' },
      out: { type: 'string', short: 'o' },
      pretty: { type: 'boolean', default: prettyDefault },
      nopl: { type: 'boolean', default: false },
    },
  });
  // `show IN` takes its input as a positional, like crit.
  const input = values.in ?? positionals[0];
  const image = decodeImage(readInput(input), { file: input ?? 'stdin' });
  const json = imageToJson(image, { pretty: values.pretty, noPayload: values.nopl });
  const text = formatPythonJson(json, values.pretty ? 4 : undefined);
  if (values.out !== undefined) writeFileSync(values.out, text);
  else process.stdout.write(text + '\n');
}

function encode(args: string[]): void {
  const { values } = parseArgs({ args, options: { in: { type: 'string', short: 'i' }, out: { type: 'string', short: 'o' } } });
  const file = values.in ?? 'stdin';
  let json;
  try {
    json = parseJson(readInput(values.in).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new CriuTsError('IMG_BAD_JSON', `${file}: cannot read JSON (${err.message}); encode expects crit's JSON, not a binary image`);
    }
    throw err;
  }
  const bytes = encodeImage(imageFromJson(json, { file }), { file });
  if (values.out !== undefined) writeFileSync(values.out, bytes);
  else process.stdout.write(bytes);
}

function info(args: string[]): void {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('info takes one image file');
  const image = decodeImage(readInput(positionals[0]), { file: positionals[0]! });
  process.stdout.write(formatPythonJson({ magic: image.magic, count: countEntries(image) }, 4) + '\n');
}

function explore(args: string[]): void {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  const [dir, what] = positionals;
  if (dir === undefined || what === undefined || !(what in EXPLORERS)) {
    throw new UsageError('x takes an images directory and one of ps, fds, mems, rss');
  }
  const lines: string[] = [];
  EXPLORERS[what as keyof typeof EXPLORERS](ImageDir.open(dir, { requireInventory: false }), (line) => lines.push(line));
  process.stdout.write(lines.map((l) => l + '\n').join(''));
}

export function main(argv: string[]): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'decode':
        decode(rest, false);
        break;
      case 'show':
        decode(rest, true);
        break;
      case 'encode':
        encode(rest);
        break;
      case 'info':
        info(rest);
        break;
      case 'x':
        explore(rest);
        break;
      case '--version':
        process.stdout.write(VERSION + '\n');
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        break;
      default:
        throw new UsageError(command === undefined ? 'a command is needed' : `unknown command '${command}'`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(USAGE + `crit-ts: error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof CriuTsError) {
      process.stderr.write(`crit-ts: ${err.message} [${err.code}]\n`);
      return 1;
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(USAGE + `crit-ts: error: ${err.message}\n`);
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E')) {
      process.stderr.write(`crit-ts: ${(err as Error).message} [${code}]\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = main(process.argv.slice(2));
