import { main } from './main';

// A reader that stops early (`condense … | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

main(process.argv.slice(2), (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n'), {
  progress: { write: (text) => process.stderr.write(text), isTTY: process.stderr.isTTY === true, columns: process.stderr.columns },
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
}).then(
  (code) => {
    process.exitCode = code;
  },
  // main answers every expected failure with an exit code; anything reaching here is a bug, shown with its stack.
  (error: unknown) => {
    process.stderr.write(`condense: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exitCode = 3;
  },
);
