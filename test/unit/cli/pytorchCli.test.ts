/**
 * The CLI's trainer flags: the PyTorch trainer's flags without `--trainer pytorch`, an unknown trainer or
 * device, a missing interpreter — one line, exit 2; and a whole condense–retrain run on the PyTorch
 * trainer, whose written file is smaller and whose report names the trainer (skipped, with the reason,
 * where no interpreter can `import torch`).
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { loadModel } from '../../../src/core/analyze';
import { InputError } from '../../../src/core/model/errors';
import type { CondenseReport } from '../../../src/core/reduction/report';
import { findPython } from '../../../src/core/train/pytorchTrainer';
import { graphParams } from '../../../src/core/train/rounds';
import { writeRetrainData } from '../../fixtures/retrain/data';
import { runCliText } from '../../helpers/cli';
import { tempDir } from '../../helpers/models';
import { readJson } from '../../helpers/tfjs';

const MLP = path.resolve(__dirname, '..', '..', 'fixtures', 'onnx', 'mlp.onnx');

describe('CLI: the PyTorch trainer', function () {
  this.timeout(300_000);
  let dir: string;
  let data: Awaited<ReturnType<typeof writeRetrainData>>;
  const retrain = (out: string, ...extra: string[]) => runCliText(
    'reduce', MLP, '--out', out, '--train-inputs', data.train.inputs, '--train-targets', data.train.targets,
    '--val-inputs', data.val.inputs, '--val-targets', data.val.targets, '--tolerance', '10', '--backend', 'cpu', ...extra,
  );

  before(async () => {
    dir = await tempDir();
    data = await writeRetrainData(dir, MLP, { train: 96, val: 64 });
  });

  // A usage mistake: its one line, then the usage.
  for (const [flags, message] of [
    [['--workers', '2'], /--workers goes with --trainer pytorch/],
    [['--trainer', 'torch'], /--trainer must be one of embedded, pytorch, got "torch"/],
    [['--trainer', 'pytorch', '--device', 'tpu'], /--device must be one of auto, cpu, cuda, got "tpu"/],
    [['--trainer', 'pytorch', '--workers', '0'], /--workers must be a positive integer/],
    [['--trainer', 'pytorch', '--nnodes', '2'], /--nnodes above 1 needs --rdzv-endpoint HOST:PORT/],
  ] as const) {
    it(`refuses ${flags.join(' ')}, saying why first, exit 2`, async () => {
      const r = await retrain(path.join(dir, 'never'), ...flags);
      assert.strictEqual(r.code, 2, r.out + r.err);
      assert.match(r.err.split('\n')[0], message);
    });
  }

  it('names a missing interpreter and what to install or set, exit 2', async () => {
    const missing = path.join(dir, 'no-python');
    const r = await retrain(path.join(dir, 'never'), '--trainer', 'pytorch', '--python', missing);
    assert.strictEqual(r.code, 2, r.out + r.err);
    assert.ok(r.err.includes(`${missing}: not found: install Python 3 with torch and numpy`), r.err);
    assert.strictEqual(r.err.trim().split('\n').length, 1, r.err);
    await assert.rejects(fs.stat(path.join(dir, 'never')));
  });

  it('retrains with --trainer pytorch: a smaller file, the report naming the trainer', async function () {
    let python: string;
    try {
      python = (await findPython(process.env.CONDENSE_PYTHON, 'cpu')).python;
    } catch (e) {
      if (e instanceof InputError && /has no (torch|numpy)|not found/.test(e.problem)) {
        console.log(`      skipped: ${e.message}`);
        this.skip();
      }
      throw e;
    }
    const out = path.join(dir, 'out');
    const r = await retrain(out, '--trainer', 'pytorch', '--python', python, '--device', 'cpu', '--rounds', '2', '--epochs', '3');
    assert.strictEqual(r.code, 0, r.out + r.err);
    assert.match(r.out, /Trained by PyTorch \S+ on cpu, /);
    const report = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
    assert.match(report.retrain!.trainer!, /^PyTorch .* on cpu, /);
    assert.ok(report.retrain!.rounds.length >= 1);
    const written = (await loadModel(path.join(out, 'mlp.onnx'))).source.graph;
    assert.ok(graphParams(written) < graphParams((await loadModel(MLP)).source.graph));
  });
});
