/** `condense export MODEL --to c|fortran --out DIR [--name NAME] [--force]`: source for the codes that call the network. */
import { parseArgs } from 'util';
import { EXPORT_LANGUAGES, ExportLanguage, exportModel } from '../core/export/index';
import { InputError } from '../core/model/errors';

const EXPORT_USAGE = 'condense export MODEL --to c|fortran --out DIR [--name NAME] [--force] [--activation NAME]';

const EXPORT_HELP = `${EXPORT_USAGE}

Writes dependency-free source computing MODEL (Dense layers and element-wise activations: relu, leaky_relu,
elu, tanh, sigmoid, gelu, softplus, swish, linear) into DIR, weights as literals in the model's precision:
  --to c         NAME.h, NAME.c: void NAME_predict(const T *inputs, T *outputs, long rows), row-major
  --to fortran   NAME.f90: module NAME_model, NAME_predict(inputs(n_in, rows), outputs(n_out, rows))
  --name NAME    prefix of every name (a letter, then letters, digits, _; default from the model file)
  --force        replace DIR if it exists
With a test program (NAME_test) and its compile line in DIR/README.md. Other layers are refused by name (exit 2).`;

/** Runs the export command; exit 0 written, 2 bad input or usage (InputError and usage mistakes are reported in one line). */
export async function exportCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { to: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' }, activation: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    err(`condense: ${(e as Error).message}\nusage: ${EXPORT_USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help) {
    out(EXPORT_HELP);
    return 0;
  }
  const language = values.to as ExportLanguage | undefined;
  if (positionals.length !== 1 || !values.out || !language || !EXPORT_LANGUAGES.includes(language)) {
    err(`condense: ${positionals.length !== 1 ? 'export takes one MODEL' : !values.out ? 'export needs --out DIR' : '--to must be c or fortran'}\nusage: ${EXPORT_USAGE}`);
    return 2;
  }
  try {
    const result = await exportModel(positionals[0], {
      language,
      outDir: values.out,
      name: values.name,
      overwrite: values.force,
      open: values.activation ? { activation: values.activation } : {},
    });
    const { plan } = result;
    out(`Wrote ${result.outDir} (${result.files.join(', ')}): ${result.name}_predict, ${plan.inputs} inputs -> ${plan.outputs} outputs in ${plan.dtype}. Build: see README.md there.`);
    return 0;
  } catch (e) {
    if (e instanceof InputError) {
      err(`condense: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
