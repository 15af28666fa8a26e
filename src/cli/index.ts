import { main } from './main';

main(process.argv.slice(2), (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n')).then(
  (code) => {
    process.exitCode = code;
  },
  // main answers every expected failure with an exit code; anything reaching here is a bug, shown with its stack.
  (error: unknown) => {
    process.stderr.write(`condense: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
