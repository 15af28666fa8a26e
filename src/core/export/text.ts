/** What the C and Fortran generators share: exact literals, safe names and comment text. */
import { InputError } from '../model/errors';
import { ExportActivation, ExportDtype } from './plan';

/**
 * A decimal that parses back to exactly `value` in the dtype: 9 significant digits are enough for
 * float32, and JavaScript's shortest round-trip form is exact for float64. Always with a decimal
 * point, so that no literal reads as an integer (C's `5f` and Fortran's `5_wp` are not reals).
 */
export function decimal(value: number, dtype: ExportDtype): string {
  const text = dtype === 'float32' ? value.toPrecision(9) : String(value);
  const [mantissa, exponent] = text.split('e');
  const pointed = mantissa.includes('.') ? mantissa : `${mantissa}.0`;
  return exponent === undefined ? pointed : `${pointed}e${exponent}`;
}

/** Names the generated code is built from: a letter, then letters, digits or underscores; short enough for Fortran's 63 characters with the suffixes added. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

export function checkName(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new InputError(name, 'the export name must be a letter followed by up to 47 letters, digits or underscores');
  }
  return name;
}

/** A valid name from a model file's name: the folder's for TF.js' model.json, which says nothing. */
export function defaultName(file: string): string {
  const parts = file.split(/[\\/]/).filter(Boolean);
  let base = parts[parts.length - 1] ?? 'model';
  if (base.toLowerCase() === 'model.json' && parts.length > 1) base = parts[parts.length - 2];
  const stem = base.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  const lettered = /^[A-Za-z]/.test(stem) ? stem : `model_${stem}`;
  return lettered.slice(0, 48).replace(/_+$/, '') || 'model';
}

/**
 * Text from the model (layer and file names) as it may appear in a comment of either language:
 * only characters that cannot end a comment, start a line or continue a Fortran line; at most 80.
 */
export function commentText(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9_.\- ]/g, '?');
  return safe.length > 80 ? `${safe.slice(0, 77)}...` : safe;
}

/** Groups values `perLine` at a time into lines. */
export function lines<T>(values: ArrayLike<T>, perLine: number, format: (v: T) => string): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += perLine) {
    out.push(Array.from({ length: Math.min(perLine, values.length - i) }, (_, k) => format(values[i + k])).join(', '));
  }
  return out;
}

/** The generated helper computing an activation: prefixed, so that none shadows a library function (tanh, erf). */
export function activationFunction(a: ExportActivation): string {
  return a.name === 'leaky_relu' ? `act_leaky_relu_${decimal(a.alpha, 'float64').replace(/[^0-9a-z]/gi, '_')}` : `act_${a.name}`;
}
