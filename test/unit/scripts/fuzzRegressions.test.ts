/**
 * Cases the fuzzer (scripts/fuzz.ts) once broke the CLI with, kept in test/fixtures/fuzz/<name>/:
 * each folder holds the mutated model and case.json ({ model, fixture, mutation, symptom }). Each
 * must now be refused as bad input: exit code 2, one one-line message naming the model, no stack,
 * and reduce leaves nothing next to its output folder.
 */
import * as assert from 'assert';
import { readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { main } from '../../../src/cli/main';
import { tempDir } from '../../helpers/models';
import { listing, useCpu } from '../../helpers/tfjs';

const FIXTURES = path.resolve(__dirname, '..', '..', 'fixtures', 'fuzz');

interface RegressionCase {
  model: string;
  fixture: string;
  mutation: string;
  symptom: string;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out, err };
}

function assertRefused(run: { code: number; err: string[] }, model: string): void {
  assert.strictEqual(run.code, 2, `exit code ${run.code}: ${run.err.join('\n')}`);
  assert.strictEqual(run.err.length, 1, `expected one message, got ${JSON.stringify(run.err)}`);
  const message = run.err[0];
  assert.ok(!message.includes('\n'), `more than one line: ${message}`);
  assert.ok(!/internal error|^\s+at /m.test(message), `crashed: ${message}`);
  assert.ok(message.includes(model), `the message does not name ${model}: ${message}`);
}

describe('fuzz regressions: cases that once crashed the CLI are refused cleanly', function () {
  const names = readdirSync(FIXTURES).filter((n) => !n.startsWith('.')).sort();

  before(async () => {
    await useCpu();
  });

  it('there are regression cases to run', () => {
    assert.ok(names.length > 0, `no cases in ${FIXTURES}`);
  });

  for (const name of names) {
    const spec = JSON.parse(readFileSync(path.join(FIXTURES, name, 'case.json'), 'utf8')) as RegressionCase;
    it(`${name}: ${spec.mutation.slice(0, 100)} (was: ${spec.symptom.slice(0, 80)})`, async () => {
      const model = path.join(FIXTURES, name, spec.model);
      assertRefused(await cli('analyze', model, '--backend', 'cpu'), model);
      const outputs = await tempDir();
      assertRefused(await cli('reduce', model, '--out', path.join(outputs, 'out'), '--force', '--backend', 'cpu'), model);
      assert.deepStrictEqual(await listing(outputs), [], 'reduce left something next to its output folder');
    });
  }
});
