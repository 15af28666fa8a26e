/**
 * safetensors: every dtype survives a write/read round trip; values written by PyTorch decode as
 * PyTorch reads them and re-encode to PyTorch's bytes; malformed files are refused through the CLI
 * with exit 2 and the reason, before anything large is allocated.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import type { AnalysisJson } from '../../../../../src/cli/format';
import { openModel } from '../../../../../src/core/formats/index';
import { STORAGE_BYTES, StorageDtype } from '../../../../../src/core/model/tensor';
import { encodeSafetensors, parseSafetensors } from '../../../../../src/core/formats/torch/safetensors';
import { decodeTensor, encodeFloats, FloatDtype, RawTensor } from '../../../../../src/core/codecs/dtypes';
import { CliRun, runCli } from '../../../../helpers/cli';
import { tempDir } from '../../../../helpers/models';
import { readJson } from '../../../../helpers/tfjs';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', '..', 'fixtures', 'torch');

const cli = (...argv: string[]): Promise<CliRun> => runCli(...argv, '--backend', 'cpu');

/** A safetensors file from a header object and raw data (for writing broken files on purpose). */
function handmade(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

describe('safetensors', function () {
  let root: string;
  before(async () => {
    root = await tempDir();
  });

  it('round trip of every dtype: names, order, shapes, bytes and metadata come back as written', () => {
    const dtypes = Object.keys(STORAGE_BYTES) as StorageDtype[];
    const tensors: RawTensor[] = dtypes.map((dtype, k) => {
      const shape = [2, k % 3 + 1];
      const bytes = Uint8Array.from({ length: 2 * (k % 3 + 1) * STORAGE_BYTES[dtype] }, (_, i) => (31 * i + k) & 0x7f);
      return { name: `layer${dtypes.length - k}.${dtype}`, dtype, shape, bytes };
    });
    tensors.push({ name: 'scalar', dtype: 'int64', shape: [], bytes: new Uint8Array(8).fill(1) });
    tensors.push({ name: 'empty', dtype: 'float32', shape: [0, 3], bytes: new Uint8Array(0) });
    const file = encodeSafetensors(tensors, { format: 'pt', note: 'kept' });
    const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));
    assert.strictEqual((8 + headerLength) % 8, 0, 'the data starts 8-byte aligned');
    const read = parseSafetensors('round-trip', Buffer.from(file));
    assert.deepStrictEqual(read.metadata, { format: 'pt', note: 'kept' });
    assert.deepStrictEqual(read.tensors, tensors);
  });

  it('values PyTorch wrote in F64, F32, F16, BF16 and I64 decode as PyTorch reads them; float32 re-encodes to its bytes', async () => {
    const expected = await readJson<Record<string, number[][]>>(path.join(FIXTURES, 'dtypes.json'));
    const { tensors } = parseSafetensors('dtypes', await fs.readFile(path.join(FIXTURES, 'dtypes.safetensors')));
    const byName = new Map(tensors.map((t) => [t.name, t]));
    for (const [name, dtype] of [['f64', 'float64'], ['f32', 'float32'], ['f16', 'float16'], ['bf16', 'bfloat16']] as [string, FloatDtype][]) {
      const raw = byName.get(name)!;
      assert.strictEqual(raw.dtype, dtype);
      const decoded = decodeTensor('dtypes', raw);
      assert.deepStrictEqual(Array.from(decoded.data), expected[name].flat(), name);
      if (dtype !== 'float64') assert.deepStrictEqual(encodeFloats(dtype, decoded.data), raw.bytes, `${name} re-encoded`);
    }
    // Rounding to nearest even where the narrower format cannot hold a float32.
    assert.deepStrictEqual(Array.from(encodeFloats('bfloat16', [1 + 2 ** -8, 1 + 3 * 2 ** -8, 65504])), [0x80, 0x3f, 0x82, 0x3f, 0x80, 0x47]);
    assert.deepStrictEqual(decodeTensor('dtypes', byName.get('i64')!).data, Int32Array.from([1, -2, 3, 2 ** 31 - 1, 0, -(2 ** 31)]));
  });

  it('a reduced file keeps every tensor it does not change byte for byte, int64 beyond 32 bits included', async () => {
    const file = path.join(FIXTURES, 'dtypes.safetensors');
    const source = await openModel(file);
    const written = parseSafetensors('written', Buffer.from(source.encode(new Map(), new Map())[0].data as Uint8Array));
    const original = parseSafetensors('original', await fs.readFile(file));
    assert.deepStrictEqual(written.tensors, original.tensors);
  });

  it('safetensors written by the library (names sorted, "10" before "2") are chained in natural order', async () => {
    const run = await cli('analyze', path.join(FIXTURES, 'deep.safetensors'), '--json');
    assert.strictEqual(run.code, 0, run.err.join('\n'));
    const { layers } = JSON.parse(run.out[0]) as AnalysisJson;
    assert.deepStrictEqual(layers.map((l) => l.name), ['0', '2', '4', '6', '8', '10']);
    assert.deepStrictEqual(layers.map((l) => l.reducible), [true, true, true, true, true, false]);
  });

  describe('malformed files: exit 2 with the reason', () => {
    const f32 = (shape: number[], begin: number, end: number): unknown => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
    const cases: [string, Buffer, RegExp][] = [
      ['too short', Buffer.from([1, 0, 0]), /too short to be a safetensors file/],
      ['header length beyond the file', handmade({ a: f32([1], 0, 4) }, new Uint8Array(4), 1000n), /header length \(1000 bytes\) runs past the end of the file/],
      ['header not JSON', Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":')]), /header is not valid JSON/],
      ['header not an object', handmade([1, 2]), /header is not a JSON object/],
      ['unknown dtype', handmade({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /"a" has dtype "C64"; supported: F64, F32/],
      ['bad shape', handmade({ a: f32([-1], 0, 4) }, new Uint8Array(4)), /"a" has an invalid shape \[-1\]/],
      ['absurd shape', handmade({ a: f32([1 << 20, 1 << 20, 64], 0, 4) }, new Uint8Array(4)), /"a" has shape \[1048576, 1048576, 64\].*more than this tool will allocate/],
      ['bad offsets', handmade({ a: f32([1], 4, 0) }, new Uint8Array(4)), /"a" has invalid data_offsets \[4,0\]/],
      ['offsets disagree with the shape', handmade({ a: f32([2], 0, 4) }, new Uint8Array(4)), /"a": data_offsets \[0, 4\] hold 4 bytes, but shape \[2\] in F32 needs 8/],
      ['overlap', handmade({ a: f32([2], 0, 8), b: f32([1], 4, 8) }, new Uint8Array(8)), /"b" overlaps tensor "a"/],
      ['gap', handmade({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, new Uint8Array(12)), /4 bytes before tensor "b" belong to no tensor/],
      ['truncated data', handmade({ a: f32([4], 0, 16) }, new Uint8Array(10)), /"a" ends at byte 16 of the data, but the file holds only 10 \(truncated\?\)/],
      ['trailing bytes', handmade({ a: f32([1], 0, 4) }, new Uint8Array(6)), /2 bytes after the last tensor belong to no tensor/],
      ['bad metadata', handmade({ __metadata__: { a: 1 } }), /"__metadata__" must map strings to strings/],
      ['NaN', handmade({ 'fc.weight': f32([1, 1], 0, 4) }, new Uint8Array(Float32Array.of(NaN).buffer)), /"fc\.weight" holds 1 NaN or infinite value/],
    ];
    for (const [name, bytes, problem] of cases) {
      it(name, async () => {
        const file = path.join(root, `${name.replace(/\W+/g, '-')}.safetensors`);
        await fs.writeFile(file, bytes);
        for (const argv of [['analyze', file], ['reduce', file, '--out', path.join(root, 'never')]]) {
          const run = await cli(...argv);
          assert.strictEqual(run.code, 2, `${argv[0]}: exit ${run.code} ${run.err.join('\n')}`);
          assert.strictEqual(run.err.length, 1);
          assert.ok(run.err[0].includes(file), run.err[0]);
          assert.match(run.err[0], problem);
        }
        await assert.rejects(fs.stat(path.join(root, 'never')));
      });
    }
  });
});
