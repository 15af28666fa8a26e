/**
 * The fuzzer's own parts (scripts/fuzz/): cases repeat for a seed and change their fixture, the
 * structure-aware codecs reproduce the committed files byte for byte before they mutate them, and
 * the checks see what they are meant to (a temporary folder left behind, a file missing from an
 * output, a changed input, a hang, memory over the budget) without reading special files.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import { FORMATS, loadFixtures, makeCase } from '../../../scripts/fuzz/cases';
import { fingerprint, outputSymptoms, runSymptoms } from '../../../scripts/fuzz/check';
import { encodePickle, parsePickle } from '../../../scripts/fuzz/pickle';
import { encodeProtobuf, parseProtobuf } from '../../../scripts/fuzz/protobuf';
import { runCli } from '../../../scripts/fuzz/run';
import { readZip, writeZip } from '../../../scripts/fuzz/zip';
import { tempDir } from '../../helpers/models';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const fixture = (...parts: string[]) => path.join(ROOT, 'test', 'fixtures', ...parts);

describe('fuzzer', function () {
  const fixtures = loadFixtures(ROOT);

  it('finds committed models of every format', () => {
    for (const format of FORMATS) assert.ok(fixtures.some((f) => f.format === format), `no ${format} fixture`);
    const external = fixtures.find((f) => f.model === 'mlp-external.onnx');
    assert.deepStrictEqual([...external!.files.keys()], ['mlp-external.onnx', 'mlp-external.onnx.data']);
  });

  it('makes the same case for the same seed and index, and changes the fixture in it', () => {
    const first = makeCase(fixtures, 5, 17);
    const again = makeCase(fixtures, 5, 17);
    assert.deepStrictEqual(again, first);
    assert.notDeepStrictEqual(makeCase(fixtures, 6, 17).files, first.files);
    let unchanged = 0;
    for (let index = 0; index < 100; index++) {
      const c = makeCase(fixtures, 5, index);
      assert.strictEqual(c.format, FORMATS[index % FORMATS.length]);
      const original = fixtures.find((f) => f.source === c.fixture)!;
      const same = c.specials.length === 0 && [...original.files].every(([name, data]) => c.files.get(name)?.equals(data));
      if (same) unchanged++;
    }
    // A mutation can happen to write back what was there (a byte set to its own value); rarely.
    assert.ok(unchanged <= 5, `${unchanged} of 100 cases left their fixture as it was`);
  });

  it('reads and rewrites the zip archives of .pt and .keras files with their entries intact', async () => {
    for (const file of [fixture('torch', 'mlp.pt'), fixture('torch', 'mlp-deflated.pt'), fixture('torch', 'mlp-protocol4.pt'), fixture('keras', 'mlp-keras3.keras')]) {
      const entries = readZip(await fs.readFile(file));
      assert.ok(entries && entries.length > 0, file);
      const again = readZip(writeZip(entries));
      assert.deepStrictEqual(again?.map((e) => [e.name.toString(), e.data.toString('hex')]), entries.map((e) => [e.name.toString(), e.data.toString('hex')]), file);
    }
    assert.strictEqual(readZip(Buffer.from('not an archive')), null);
  });

  it('parses pickles and ONNX protobuf into pieces that encode back to the same bytes', async () => {
    const pickle = readZip(await fs.readFile(fixture('torch', 'mlp.pt')))!.find((e) => e.name.toString().endsWith('data.pkl'))!.data;
    const parsed = parsePickle(pickle);
    assert.ok(parsed && parsed.ops.length > 10);
    assert.ok(encodePickle(parsed.ops, parsed.rest).equals(pickle));
    for (const name of ['mlp.onnx', 'cnn.onnx', 'mlp-external.onnx']) {
      const bytes = await fs.readFile(fixture('onnx', name));
      const fields = parseProtobuf(bytes);
      assert.ok(fields && fields.some((f) => f.children), name);
      assert.ok(encodeProtobuf(fields).equals(bytes), name);
    }
  });

  it('fingerprints a folder without opening special files, and sees a changed byte', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'model.json'), '{"a": 1}');
    await fs.symlink('/dev/zero', path.join(dir, 'zero'));
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    const before = await fingerprint(dir);
    assert.strictEqual(await fingerprint(dir), before);
    await fs.writeFile(path.join(dir, 'model.json'), '{"a": 2}');
    assert.notStrictEqual(await fingerprint(dir), before);
  });

  it('reports a temporary folder left behind, an output written despite failing, and files missing from an output', async () => {
    const parent = await tempDir();
    assert.deepStrictEqual(await outputSymptoms(parent, 'reduced', 2, false), []);
    await fs.mkdir(path.join(parent, '.reduced.tmp-1-x'));
    assert.match((await outputSymptoms(parent, 'reduced', 2, false)).join(), /left behind.*\.reduced\.tmp-1-x/);
    await fs.rm(path.join(parent, '.reduced.tmp-1-x'), { recursive: true });

    const out = path.join(parent, 'reduced');
    await fs.mkdir(out);
    assert.match((await outputSymptoms(parent, 'reduced', 2, false)).join(), /yet an output folder was written/);
    await fs.writeFile(path.join(out, 'condense-report.json'), JSON.stringify({ reducedFile: 'model.json' }));
    await fs.writeFile(path.join(out, 'model.json'), JSON.stringify({ weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [] }] }));
    assert.match((await outputSymptoms(parent, 'reduced', 0, false)).join(), /lacks group1-shard1of1\.bin/);
    await fs.writeFile(path.join(out, 'group1-shard1of1.bin'), '');
    assert.deepStrictEqual(await outputSymptoms(parent, 'reduced', 0, false), []);
  });

  it('runs a child under the limits: a hang is killed, memory over the budget is reported, a crash is one', async () => {
    const dir = await tempDir();
    const script = async (name: string, body: string) => {
      const file = path.join(dir, name);
      await fs.writeFile(file, body);
      return file;
    };
    const limits = { timeoutMs: 1500, rssBudget: 200 * 2 ** 20 };
    const hang = await runCli(await script('hang.js', 'setInterval(() => {}, 1000);'), ['analyze'], limits, dir);
    assert.ok(hang.timedOut);
    assert.match(runSymptoms(hang, limits).join(), /analyze: hang/);

    const hungry = await runCli(await script('hungry.js', 'const k = []; for (let i = 0; i < 40; i++) k.push(Buffer.alloc(2 ** 24, 1)); setTimeout(() => {}, 3000);'), ['analyze'], { ...limits, timeoutMs: 20_000 }, dir);
    assert.ok(hungry.overBudget, `peak ${hungry.peakRss}`);
    assert.ok(hungry.peakRss > 200 * 2 ** 20);

    const crash = await runCli(await script('crash.js', 'throw new TypeError("boom");'), ['reduce'], limits, dir);
    assert.strictEqual(crash.code, 1);
    assert.match(runSymptoms(crash, limits).join(), /reduce: stack trace/);

    const refusal = await runCli(await script('refuse.js', 'console.error("condense: model.json: malformed JSON"); process.exitCode = 2;'), ['analyze'], limits, dir);
    assert.deepStrictEqual(runSymptoms(refusal, limits), []);
  });
});
