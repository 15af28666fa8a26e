// scratch harness (not committed): the CLI's retrain on one form with extra flags, lines time-stamped
import * as path from 'path';
import { main } from '../../src/cli/main';
const [file, out, ...extra] = process.argv.slice(2);
const dir = path.resolve(__dirname, 'out', 'combustion');
const t0 = Date.now();
const stamp = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}`);
main(['reduce', file, '--out', out, '--force', '--train-inputs', path.join(dir, 'train-inputs.npy'), '--train-targets', path.join(dir, 'train-targets.npy'),
  '--val-inputs', path.join(dir, 'val-inputs.npy'), '--val-targets', path.join(dir, 'val-targets.npy'), '--tolerance', '0.1', ...extra], stamp, stamp).then((c) => { stamp(`exit ${c}`); process.exit(c); });
