import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isSeq, isPair, isScalar, type Node, type Document } from 'yaml';
import type { z } from 'zod';
import { configSchema, type AirgateConfig } from './schema.js';
import { ConfigError, formatPath, type ConfigIssue } from './config-error.js';
import { interpolateEnv } from './interpolate.js';
import { resolveSecretFiles } from './secret-files.js';
import { knownKeysAt } from './schema-keys.js';
import { didYouMean } from './suggest.js';
import { describe } from './types-helpers.js';
import { deepFreeze } from '../core/deep-freeze.js';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
}

/** Read, interpolate, validate and freeze a configuration file. Throws ConfigError listing every problem. */
export function loadConfigFile(file: string, options: LoadOptions = {}): AirgateConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, path: '', message: `cannot read the configuration file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  return loadConfigText(text, file, options);
}

export function loadConfigText(text: string, file: string, options: LoadOptions = {}): AirgateConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined): Pick<ConfigIssue, 'line' | 'column'> => {
    if (offset === undefined) return {};
    const pos = lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const dup = e.code === 'DUPLICATE_KEY' ? duplicateKey(doc, e.pos[0], lines) : undefined;
        if (dup) return { file, ...at(e.pos[0]), path: dup.path, message: `duplicate key "${dup.key}": it already appears at line ${dup.firstLine}; a key may appear once in a mapping` };
        return { file, ...at(e.pos[0]), path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  if (!isMap(doc.contents)) {
    throw new ConfigError([{ file, ...at(doc.contents?.range?.[0]), path: '', message: `expected a mapping with listeners, backends and routes, found ${doc.contents ? 'another kind of document' : 'an empty file'}` }]);
  }
  const envProblems = interpolateEnv(doc, options.env ?? process.env);
  if (envProblems.length > 0) {
    throw new ConfigError(envProblems.map((p) => ({ file, ...at(p.node.range?.[0]), path: pathOfNode(doc, p.node), message: p.message })));
  }
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const fileProblems = resolveSecretFiles(raw, file);
  if (fileProblems.length > 0) {
    throw new ConfigError(fileProblems.map((p) => ({ file, ...at(locate(doc, p.path).offset), path: formatPath(p.path), message: p.message })));
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => describeIssue(issue, raw, doc, file, at)));
  }
  return deepFreeze(result.data);
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, doc: Document, file: string, at: (o: number | undefined) => Pick<ConfigIssue, 'line' | 'column'>): ConfigIssue[] {
  const path = issue.path as (string | number)[];
  const found = valueAt(raw, path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(configSchema, path);
    return issue.keys.map((key) => {
      const hint = didYouMean(key, known);
      const loc = locate(doc, [...path, key]);
      return {
        file,
        ...at(loc.keyOffset ?? loc.offset),
        path: formatPath([...path, key]),
        message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of: ${known.join(', ')}`,
      };
    });
  }
  const loc = locate(doc, path);
  let message: string;
  switch (issue.code) {
    case 'invalid_type':
      message = found === undefined ? `required key is missing (expected ${issue.expected})` : `expected ${issue.expected}, found ${describe(found)}`;
      break;
    case 'invalid_value':
      message = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${describe(found)}`;
      break;
    case 'too_small':
    case 'too_big':
      message = `${issue.message.replace(/^Too (small|big): /, '')}${typeof found === 'number' ? `, found ${found}` : ''}`;
      if (issue.origin === 'number') message = `expected a number ${issue.code === 'too_small' ? `of at least ${String(issue.minimum)}` : `of at most ${String(issue.maximum)}`}, found ${describe(found)}`;
      break;
    case 'invalid_format':
      message = `${issue.message}, found ${describe(found)}`;
      break;
    case 'invalid_key':
      message = `invalid name ${describe(path.length ? path[path.length - 1] : undefined)}: ${issue.issues[0]?.message ?? issue.message}`;
      break;
    case 'custom': {
      const candidates = (issue.params as { candidates?: string[] } | undefined)?.candidates;
      const hint = candidates && typeof found === 'string' ? didYouMean(found, candidates) : undefined;
      message = issue.message + (hint ? ` (did you mean "${hint}"?)` : '');
      break;
    }
    default:
      message = `${issue.message}, found ${describe(found)}`;
  }
  return [{ file, ...at(loc.offset), path: formatPath(path), message }];
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** Find the YAML node for a key path: the value's offset, and the key's when the path ends in a mapping key. */
function locate(doc: Document, path: readonly PropertyKey[]): { offset?: number; keyOffset?: number } {
  let node: unknown = doc.contents;
  let keyOffset: number | undefined;
  let lastGood = doc.contents?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg)) ?? node.items.find((p) => isScalar(p.key) && String(p.key.value) === `${String(seg)}_file`);
      if (!pair) return { offset: lastGood };
      keyOffset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      keyOffset = undefined;
    } else {
      return { offset: lastGood };
    }
    lastGood = (node as Node | null)?.range?.[0] ?? keyOffset ?? lastGood;
  }
  return { offset: lastGood, keyOffset };
}

/** The repeated key at `offset`, its key path, and the line of its first appearance. */
function duplicateKey(doc: Document, offset: number, lines: LineCounter): { key: string; path: string; firstLine: number } | undefined {
  const walk = (node: unknown, path: (string | number)[]): { key: string; path: string; firstLine: number } | undefined => {
    if (isMap(node)) {
      for (const p of node.items) {
        if (!isScalar(p.key)) continue;
        const key = String(p.key.value);
        if (p.key.range?.[0] === offset) {
          const first = node.items.find((q) => isScalar(q.key) && String(q.key.value) === key && q !== p);
          const firstOffset = isScalar(first?.key) ? first.key.range?.[0] : undefined;
          return { key, path: formatPath([...path, key]), firstLine: firstOffset === undefined ? 0 : lines.linePos(firstOffset).line };
        }
        const found = walk(p.value, [...path, key]);
        if (found) return found;
      }
    } else if (isSeq(node)) {
      for (let i = 0; i < node.items.length; i++) {
        const found = walk(node.items[i], [...path, i]);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(doc.contents, []);
}

function pathOfNode(doc: Document, target: Node): string {
  const walk = (node: unknown, path: (string | number)[]): (string | number)[] | undefined => {
    if (node === target) return path;
    if (isMap(node)) {
      for (const p of node.items) {
        if (isPair(p) && isScalar(p.key)) {
          const found = walk(p.value, [...path, String(p.key.value)]);
          if (found) return found;
        }
      }
    } else if (isSeq(node)) {
      for (let i = 0; i < node.items.length; i++) {
        const found = walk(node.items[i], [...path, i]);
        if (found) return found;
      }
    }
    return undefined;
  };
  return formatPath(walk(doc.contents, []) ?? []);
}
