/**
 * Bad input: through the CLI's main(), each broken model or unusable output folder
 * gives exit code 2 and exactly one message naming the file and the problem; nothing crashes and
 * nothing (no temporary folder) is left next to the output folder.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { assertRefused, CliRun, runCli } from '../../helpers/cli';
import { copyModelFolder, saveSmallDenseModel, tempDir } from '../../helpers/models';
import { listing, readJson, SavedModelJson, useCpu } from '../../helpers/tfjs';

/** Refused as bad input (assertRefused), with nothing on the output. */
function assertBadInput(run: CliRun, file: string, problem: RegExp): void {
  assertRefused(run, file, problem);
  assert.deepStrictEqual(run.out, []);
}

describe('bad input through the CLI', function () {
  let root: string;
  let base: string;
  let caseCount = 0;

  before(async () => {
    await useCpu();
    root = await tempDir();
    base = await saveSmallDenseModel(path.join(root, 'base'));
  });

  /** A fresh copy of the good model, plus an empty folder to write the output into. */
  async function freshCase(): Promise<{ dir: string; file: string; shard: string; outputs: string; json: SavedModelJson }> {
    const caseDir = path.join(root, `case${++caseCount}`);
    const copy = await copyModelFolder(base, path.join(caseDir, 'model'));
    const outputs = path.join(caseDir, 'outputs');
    await fs.mkdir(outputs);
    return { ...copy, outputs, json: await readJson<SavedModelJson>(copy.file) };
  }

  /** Runs analyze and reduce on a broken model: both refuse it the same way and write nothing. */
  async function expectRefused(c: { file: string; outputs: string }, problem: RegExp): Promise<string> {
    assertBadInput(await runCli('analyze', c.file, '--backend', 'cpu'), c.file, problem);
    const run = await runCli('reduce', c.file, '--out', path.join(c.outputs, 'out'), '--backend', 'cpu');
    assertBadInput(run, c.file, problem);
    assert.deepStrictEqual(await listing(c.outputs), [], 'something was left in the output folder\'s parent');
    return run.err[0];
  }

  const writeJson = (file: string, value: unknown): Promise<void> => fs.writeFile(file, JSON.stringify(value));
  const weightSpec = (json: SavedModelJson, name: string): tf.io.WeightsManifestEntry => {
    const spec = json.weightsManifest[0].weights.find((w) => w.name === name);
    assert.ok(spec, `no weight ${name}`);
    return spec;
  };

  it('the good model itself is accepted (the cases below differ only by what they break)', async () => {
    const c = await freshCase();
    const run = await runCli('reduce', c.file, '--out', path.join(c.outputs, 'out'), '--backend', 'cpu');
    assert.strictEqual(run.code, 0, run.err.join('\n'));
    assert.deepStrictEqual(await listing(c.outputs), ['out']);
  });

  it('malformed JSON', async () => {
    const c = await freshCase();
    await fs.writeFile(c.file, '{"modelTopology": {"class_name": "Sequential",');
    await expectRefused(c, /malformed JSON/);
  });

  it('a missing shard', async () => {
    const c = await freshCase();
    await fs.rm(c.shard);
    const message = await expectRefused(c, /missing/);
    assert.ok(message.includes('group1-shard1of1.bin'), message);
  });

  it('a truncated shard', async () => {
    const c = await freshCase();
    const bytes = await fs.readFile(c.shard);
    await fs.writeFile(c.shard, bytes.subarray(0, bytes.length - 6));
    await expectRefused(c, /truncated/);
  });

  it('shapes that disagree with the byte count (more and fewer values than stored)', async () => {
    const more = await freshCase();
    weightSpec(more.json, 'h/kernel').shape = [4, 9];
    await writeJson(more.file, more.json);
    await expectRefused(more, /truncated.*bytes/);
    const fewer = await freshCase();
    weightSpec(fewer.json, 'h/kernel').shape = [4, 7];
    await writeJson(fewer.file, fewer.json);
    await expectRefused(fewer, /longer than the manifest says.*bytes/);
  });

  it('NaN or infinite weights are refused with a message naming the weight', async () => {
    const nan = await freshCase();
    const bytes = await fs.readFile(nan.shard);
    bytes.writeFloatLE(NaN, 4 * 3); // h/kernel comes first
    await fs.writeFile(nan.shard, bytes);
    const message = await expectRefused(nan, /NaN or infinite/);
    assert.ok(message.includes('"h/kernel"'), message);

    const inf = await freshCase();
    const more = await fs.readFile(inf.shard);
    more.writeFloatLE(-Infinity, more.length - 4); // the last value: out/bias
    await fs.writeFile(inf.shard, more);
    const second = await expectRefused(inf, /NaN or infinite/);
    assert.ok(second.includes('"out/bias"'), second);
  });

  it('a manifest path that climbs out of the model\'s folder is refused, even when the file is there', async () => {
    const climbing = await freshCase();
    const outside = path.join(path.dirname(climbing.dir), 'outside');
    await fs.mkdir(outside);
    await fs.copyFile(climbing.shard, path.join(outside, 'weights.bin'));
    climbing.json.weightsManifest[0].paths = ['../outside/weights.bin'];
    await writeJson(climbing.file, climbing.json);
    await expectRefused(climbing, /climbs out of the model's folder/);

    const nested = await freshCase();
    await fs.mkdir(path.join(path.dirname(nested.dir), 'outside'));
    await fs.copyFile(nested.shard, path.join(path.dirname(nested.dir), 'outside', 'weights.bin'));
    nested.json.weightsManifest[0].paths = ['sub/../../outside/weights.bin'];
    await writeJson(nested.file, nested.json);
    await expectRefused(nested, /climbs out/);

    const linked = await freshCase();
    const target = path.join(path.dirname(linked.dir), 'elsewhere.bin');
    await fs.rename(linked.shard, target);
    await fs.symlink(target, linked.shard);
    await expectRefused(linked, /climbs out/);

    // A name that merely begins with ".." stays inside the folder and is read.
    const dotted = await freshCase();
    await fs.rename(dotted.shard, path.join(dotted.dir, '..weights.bin'));
    dotted.json.weightsManifest[0].paths = ['..weights.bin'];
    await writeJson(dotted.file, dotted.json);
    const accepted = await runCli('analyze', dotted.file, '--backend', 'cpu');
    assert.strictEqual(accepted.code, 0, accepted.err.join('\n'));

    const absolute = await freshCase();
    absolute.json.weightsManifest[0].paths = [absolute.shard];
    await writeJson(absolute.file, absolute.json);
    await expectRefused(absolute, /not a relative path/);
  });

  it('a shape that would need absurd memory is refused before anything is read or allocated', async () => {
    const c = await freshCase();
    weightSpec(c.json, 'h/kernel').shape = [100000, 100000];
    // The shard named does not even exist: the shape is refused before shards are looked at.
    c.json.weightsManifest[0].paths = ['not-there.bin'];
    await writeJson(c.file, c.json);
    const message = await expectRefused(c, /more than this tool will allocate/);
    assert.ok(message.includes('"h/kernel"') && message.includes('100000, 100000'), message);
  });

  it('an output folder that cannot be written (read-only even for root; chmod when not root)', async () => {
    const c = await freshCase();
    // /sys refuses new entries even to root.
    const sysOut = path.join('/sys', `condense-test-${process.pid}`);
    const before = await listing('/sys');
    assertBadInput(await runCli('reduce', c.file, '--out', sysOut, '--backend', 'cpu'), sysOut, /cannot write the output folder/);
    assert.deepStrictEqual(await listing('/sys'), before);

    if (process.getuid?.() !== 0) {
      await fs.chmod(c.outputs, 0o555);
      try {
        const out = path.join(c.outputs, 'out');
        assertBadInput(await runCli('reduce', c.file, '--out', out, '--backend', 'cpu'), out, /not writable/);
        assert.deepStrictEqual(await listing(c.outputs), []);
      } finally {
        await fs.chmod(c.outputs, 0o755);
      }
    }
  });

  it('an existing output folder is kept without --force, and replaced with it', async () => {
    const c = await freshCase();
    const out = path.join(c.outputs, 'out');
    await fs.mkdir(out);
    await fs.writeFile(path.join(out, 'keep.txt'), 'mine');
    assertBadInput(await runCli('reduce', c.file, '--out', out, '--backend', 'cpu'), out, /already exists/);
    assert.deepStrictEqual(await listing(out), ['keep.txt']);
    assert.deepStrictEqual(await listing(c.outputs), ['out']);

    const forced = await runCli('reduce', c.file, '--out', out, '--force', '--backend', 'cpu');
    assert.strictEqual(forced.code, 0, forced.err.join('\n'));
    assert.deepStrictEqual(await listing(out), ['condense-report.json', 'group1-shard1of1.bin', 'model.json']);
    assert.deepStrictEqual(await listing(c.outputs), ['out']);
  });

  it('--out pointing at the model\'s own folder (or the folder holding it) is refused, even with --force', async () => {
    const c = await freshCase();
    const modelFiles = await listing(c.dir);
    const parent = path.dirname(c.dir);
    const siblings = await listing(parent);
    for (const out of [c.dir, parent]) {
      for (const force of [[], ['--force']]) {
        assertBadInput(await runCli('reduce', c.file, '--out', out, ...force, '--backend', 'cpu'), out, /original model/);
        assert.deepStrictEqual(await listing(c.dir), modelFiles);
        assert.deepStrictEqual(await listing(parent), siblings);
      }
    }
    // The model is intact.
    assert.strictEqual((await runCli('analyze', c.file, '--backend', 'cpu')).code, 0);
  });

  it('--out at a folder holding the model is refused even when the model\'s folder name begins with ".."', async () => {
    const c = await freshCase();
    const holder = path.join(path.dirname(c.dir), 'holder');
    const dotted = path.join(holder, '..models');
    await fs.mkdir(holder);
    await fs.rename(c.dir, dotted);
    const file = path.join(dotted, 'model.json');
    assertBadInput(await runCli('reduce', file, '--out', holder, '--force', '--backend', 'cpu'), holder, /original model/);
    assert.deepStrictEqual(await listing(holder), ['..models']);
    assert.deepStrictEqual(await listing(dotted), ['group1-shard1of1.bin', 'model.json']);
  });
});
