/** Pickles written opcode by opcode, for hand-made (and booby-trapped) state dicts. */

/** Pickle bytes from opcodes (numbers), raw strings (GLOBAL lines) and BINUNICODE strings ({ text }). */
export function pickle(...parts: (number | string | { text: string })[]): Uint8Array {
  const bytes: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') bytes.push(part);
    else if (typeof part === 'string') bytes.push(...Buffer.from(part, 'latin1'));
    else {
      const text = Buffer.from(part.text);
      const length = Buffer.alloc(4);
      length.writeUInt32LE(text.length);
      bytes.push(0x58, ...length, ...text);
    }
  }
  return Uint8Array.from(bytes);
}
