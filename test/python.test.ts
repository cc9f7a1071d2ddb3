import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPython } from './helpers/python.js';

test('the Airflow-side Python tests (test/python, unittest) pass', async () => {
  const { code, output } = await runPython(['-m', 'unittest', 'discover', '-s', '.', '-t', '.', '-p', 'test_*.py']);
  assert.equal(code, 0, `python3 -m unittest discover failed:\n${output}`);
  const ran = /Ran (\d+) tests?/.exec(output);
  assert.ok(ran && Number(ran[1]) >= 60, `expected the whole Python suite to run:\n${output}`);
});
