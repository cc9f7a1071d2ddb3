import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERRORS } from '../src/core/errors.js';

// The compiled test is dist/test/errors-doc.test.js; the docs are in the repository's docs/.
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const SECTION = '## Errors the gateway answers itself';

/** The rows `| \`CODE\` | status | when |` of the error table in docs/config.md, in order. */
function documentedTable(): { code: string; status: number; line: number }[] {
  const lines = readFileSync(`${DOCS}config.md`, 'utf8').split('\n');
  const start = lines.indexOf(SECTION);
  assert.ok(start >= 0, `docs/config.md has a section "${SECTION}"`);
  const rows: { code: string; status: number; line: number }[] = [];
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const m = /^\| `([A-Z0-9_]+)` \| (\d{3}) \|/.exec(lines[i]!);
    if (m) rows.push({ code: m[1]!, status: Number(m[2]), line: i + 1 });
  }
  return rows;
}

test('every code in ERRORS is in the docs/config.md error table with the same status, and only those', () => {
  const rows = documentedTable();
  const documented = new Map<string, number>();
  for (const r of rows) {
    assert.ok(!documented.has(r.code), `docs/config.md:${r.line}: ${r.code} is listed twice`);
    documented.set(r.code, r.status);
  }
  for (const [code, { status }] of Object.entries(ERRORS)) {
    assert.ok(documented.has(code), `${code} (${status}) is in src/core/errors.ts but not in the table of docs/config.md`);
    assert.equal(documented.get(code), status, `${code}: docs/config.md says ${documented.get(code)}, src/core/errors.ts says ${status}`);
  }
  for (const r of rows) assert.ok(r.code in ERRORS, `docs/config.md:${r.line}: ${r.code} is documented but src/core/errors.ts has no such code`);
});

test('every AIRGATE_ERR_ code the docs mention exists, with the status written beside it', () => {
  const files = [
    README,
    ...readdirSync(DOCS)
      .filter((f) => f.endsWith('.md'))
      .map((f) => `${DOCS}${f}`),
  ];
  let mentions = 0;
  for (const file of files) {
    const name = file.slice(file.lastIndexOf('/') + 1);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((text, i) => {
        // `AIRGATE_ERR_` alone (a prefix named in prose) is not a code.
        for (const m of text.matchAll(/(?:(\d{3}) )?`?(AIRGATE_ERR_[A-Z0-9_]*[A-Z0-9])`?/g)) {
          mentions++;
          const code = m[2]! as keyof typeof ERRORS;
          assert.ok(code in ERRORS, `${name}:${i + 1}: ${code} is not a code in src/core/errors.ts`);
          if (m[1] !== undefined) assert.equal(Number(m[1]), ERRORS[code].status, `${name}:${i + 1}: ${code} is written with status ${m[1]}`);
        }
      });
  }
  assert.ok(mentions >= Object.keys(ERRORS).length, `found ${mentions} mentions of error codes in the docs`);
});
