/** `condense export`: writes the source folder and exits 0; bad input and usage mistakes exit 2 naming the problem, writing nothing. */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { runCliText } from '../../helpers/cli';
import { tempDir } from '../../helpers/models';

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples');

describe('condense export', function () {
  it('writes C named after the model folder, and Fortran under --name', async () => {
    const dir = await tempDir();
    const c = await runCliText('export', path.join(EXAMPLES, 'combustion-mlp', 'model.json'), '--to', 'c', '--out', path.join(dir, 'c'));
    assert.strictEqual(c.code, 0, c.err);
    assert.deepStrictEqual((await fs.readdir(path.join(dir, 'c'))).sort(), ['README.md', 'combustion_mlp.c', 'combustion_mlp.h', 'combustion_mlp_test.c']);
    assert.match(await fs.readFile(path.join(dir, 'c', 'combustion_mlp.h'), 'utf8'), /void combustion_mlp_predict\(const float \*inputs, float \*outputs, long rows\);/);
    const f = await runCliText('export', path.join(EXAMPLES, 'combustion-mlp', 'model.json'), '--to=fortran', '--out', path.join(dir, 'f'), '--name', 'flame');
    assert.strictEqual(f.code, 0, f.err);
    assert.match(await fs.readFile(path.join(dir, 'f', 'flame.f90'), 'utf8'), /module flame_model[\s\S]*subroutine flame_predict\(inputs, outputs\)/);
    assert.match(f.out, /flame_predict, 6 inputs -> 5 outputs in float32/);
    const help = await runCliText('export', '--help');
    assert.strictEqual(help.code, 0);
    assert.match(help.out, /^condense export MODEL --to c\|fortran --out DIR/);
  });

  it('exits 2 naming the problem: a convolutional model, a bad name, a bad language, a missing --out; nothing written', async () => {
    const dir = await tempDir();
    const cnn = await runCliText('export', path.join(EXAMPLES, 'small-cnn', 'model.json'), '--to', 'c', '--out', path.join(dir, 'x'));
    assert.strictEqual(cnn.code, 2);
    assert.match(cnn.err, /cannot export layer "conv1" \(Conv2D\)/);
    const name = await runCliText('export', path.join(EXAMPLES, 'combustion-mlp', 'model.json'), '--to', 'c', '--out', path.join(dir, 'x'), '--name', 'bad-name');
    assert.strictEqual(name.code, 2);
    assert.match(name.err, /export name must be a letter/);
    const language = await runCliText('export', path.join(EXAMPLES, 'combustion-mlp', 'model.json'), '--to', 'rust', '--out', path.join(dir, 'x'));
    assert.strictEqual(language.code, 2);
    assert.match(language.err, /--to must be c or fortran/);
    const out = await runCliText('export', path.join(EXAMPLES, 'combustion-mlp', 'model.json'), '--to', 'c');
    assert.strictEqual(out.code, 2);
    assert.match(out.err, /needs --out DIR/);
    const unknown = await runCliText('export', path.join(EXAMPLES, 'combustion-mlp', 'model.json'), '--to', 'c', '--out', path.join(dir, 'x'), '--threshold', '0.9');
    assert.strictEqual(unknown.code, 2);
    assert.deepStrictEqual(await fs.readdir(dir), []);
  });
});
