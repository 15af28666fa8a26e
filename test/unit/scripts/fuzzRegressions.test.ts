/**
 * Cases the fuzzer (scripts/fuzz.ts) once broke the CLI with, kept in test/fixtures/fuzz/<name>/:
 * each folder holds the mutated model and case.json ({ model, fixture, mutation, symptom, expect? }).
 * Each must now be refused as bad input: exit code 2, one one-line message naming the model, no
 * stack, and reduce leaves nothing next to its output folder. With `"expect": "warned"` the engine
 * accepts the model but the check after reduce cannot run it (onnxruntime or tfjs refuses it): analyze
 * and reduce exit 0, reduce writes its output and says so in one one-line warning naming the model.
 */
import * as assert from 'assert';
import { readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { CliRun, runCli } from '../../helpers/cli';
import { tempDir } from '../../helpers/models';
import { listing, useCpu } from '../../helpers/tfjs';

const FIXTURES = path.resolve(__dirname, '..', '..', 'fixtures', 'fuzz');

interface RegressionCase {
  model: string;
  fixture: string;
  mutation: string;
  symptom: string;
  expect?: 'warned';
}

/** One message on stderr: one line, naming the model, no crash. */
function assertOneLine(err: string[], model: string): string {
  assert.strictEqual(err.length, 1, `expected one message, got ${JSON.stringify(err)}`);
  const message = err[0];
  assert.ok(!message.includes('\n'), `more than one line: ${message}`);
  assert.ok(!/internal error|^\s+at /m.test(message), `crashed: ${message}`);
  assert.ok(message.includes(model), `the message does not name ${model}: ${message}`);
  return message;
}

function assertRefused(run: { code: number; err: string[] }, model: string): void {
  assert.strictEqual(run.code, 2, `exit code ${run.code}: ${run.err.join('\n')}`);
  assertOneLine(run.err, model);
}

describe('fuzz regressions: cases that once crashed the CLI are refused, or warned about, cleanly', function () {
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
      const outputs = await tempDir();
      const reduce = (): Promise<CliRun> => runCli('reduce', model, '--out', path.join(outputs, 'out'), '--force', '--backend', 'cpu');
      if (spec.expect === 'warned') {
        const analyze = await runCli('analyze', model, '--backend', 'cpu');
        assert.strictEqual(analyze.code, 0, analyze.err.join('\n'));
        const reduced = await reduce();
        assert.strictEqual(reduced.code, 0, reduced.err.join('\n'));
        assert.match(assertOneLine(reduced.err, model), /^condense: warning: the reduced model was written but could not be checked/);
        assert.deepStrictEqual(await listing(outputs), ['out'], 'reduce left something next to its output folder');
        assert.ok((await listing(path.join(outputs, 'out'))).includes('condense-report.json'), 'reduce wrote no report');
        return;
      }
      assertRefused(await runCli('analyze', model, '--backend', 'cpu'), model);
      assertRefused(await reduce(), model);
      assert.deepStrictEqual(await listing(outputs), [], 'reduce left something next to its output folder');
    });
  }
});
