import { Rng } from './random';

export interface ByteMutation {
  data: Buffer;
  description: string;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff];
const INTERESTING_WORDS = [0, 0xffffffff, 0x7fffffff, 0x80000000, 0x10000, 0xffff];

/** Random-byte mutations, blind to the format: flips, edge values, cuts, growth, splices. */
export function mutateBytes(rng: Rng, source: Buffer): ByteMutation {
  const data = Buffer.from(source);
  const at = data.length > 0 ? rng.int(data.length) : 0;
  switch (rng.int(8)) {
    case 0: {
      const count = rng.range(1, 8);
      for (let i = 0; i < count && data.length > 0; i++) data[rng.int(data.length)] ^= 1 << rng.int(8);
      return { data, description: `bytes: ${count} bit flips` };
    }
    case 1:
      if (data.length > 0) data[at] = rng.pick(INTERESTING_BYTES);
      return { data, description: `bytes: byte ${at} = ${data[at]}` };
    case 2: {
      const word = rng.pick(INTERESTING_WORDS);
      if (at + 4 > data.length) return { data, description: 'bytes: too short for a u32, unchanged' };
      data.writeUInt32LE(word, at);
      return { data, description: `bytes: u32 at ${at} = 0x${word.toString(16)}` };
    }
    case 3:
      return { data: data.subarray(0, at), description: `bytes: truncated to ${at} of ${data.length}` };
    case 4: {
      const extra = rng.pick([1, 7, 4096]);
      return { data: Buffer.concat([data, rng.bytes(extra)]), description: `bytes: ${extra} random bytes appended` };
    }
    case 5: {
      const length = rng.range(1, Math.max(1, Math.min(256, data.length - at)));
      return { data: Buffer.concat([data.subarray(0, at), data.subarray(at + length)]), description: `bytes: ${length} removed at ${at}` };
    }
    case 6: {
      const length = rng.range(1, 64);
      const from = data.length > 0 ? rng.int(data.length) : 0;
      const chunk = data.subarray(from, from + length);
      return { data: Buffer.concat([data.subarray(0, at), chunk, data.subarray(at)]), description: `bytes: ${chunk.length} copied from ${from} to ${at}` };
    }
    default: {
      const length = rng.range(1, 32);
      rng.bytes(length).copy(data, at);
      return { data, description: `bytes: ${length} random bytes written at ${at}` };
    }
  }
}
