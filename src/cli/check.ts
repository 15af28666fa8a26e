/**
 * After every `reduce`: the written model run against the original, so that a reduction that wrecks
 * the model says so in its summary line and in condense-report.json instead of exiting 0 in silence.
 */
import * as path from 'path';
import type { Backend } from '../core/compute/backend';
import type { CalibrationSpec } from '../core/data/calibration';
import { InputError, UnrunnableModel } from '../core/model/errors';
import type { OpenOptions } from '../core/model/registry';
import { recordCheck, ReduceResult } from '../core/reduce';
import type { OutputCheck } from '../core/reduction/report';
import { ProbeOptions, verifyModels } from '../core/verify';

/** verify's default tolerance: the check warns past it unless reduce is given another --tolerance. */
export const CHECK_TOLERANCE = 1e-3;
/** Rows the check runs: enough for a max deviation and a top-1 share to mean something, few enough for large models. */
const CHECK_ROWS = 128;
/** Below this top-1 agreement a classifier's reduction is called out. */
const TOP1_WARNING = 0.99;

/** Inputs for the check: the calibration file's rows, fresh draws from the calibration range (held out), or verify's generated samples. */
export function probesFor(file: string | true | undefined, spec: CalibrationSpec | undefined, open: OpenOptions): ProbeOptions {
  if (typeof file === 'string') return { ...open, data: file, maxRows: CHECK_ROWS };
  if (spec?.range) return { ...open, range: spec.range, samples: Math.min(spec.samples ?? CHECK_ROWS, CHECK_ROWS), seed: (spec.seed ?? 1) + 1 };
  return { ...open, samples: CHECK_ROWS };
}

/** Runs the check, records it in the written report, and warns when the outputs moved; null (with a warning) when the models cannot be run. */
export async function checkReduced(
  backend: Backend, original: string, result: ReduceResult, probes: ProbeOptions, tolerance: number, warn: (message: string) => void,
): Promise<OutputCheck | null> {
  let check: OutputCheck;
  try {
    const f = await verifyModels(backend, original, result.mainFile, probes);
    const heldOut = probes.range && !probes.data ? 'held-out ' : '';
    check = {
      inputs: `${heldOut}${f.inputs}`,
      samples: f.samples,
      maxAbs: f.maxAbs,
      meanAbs: f.meanAbs,
      maxRel: f.maxRel,
      meanRel: f.meanRel,
      top1Agreement: f.classifier === 'softmax' ? f.argmaxAgreement : null,
      tolerance,
      withinTolerance: f.maxRel <= tolerance,
    };
  } catch (e) {
    if (e instanceof UnrunnableModel) {
      warn(unrunnableWarning(e, original));
      return null;
    }
    if (!(e instanceof InputError)) throw e;
    warn(`the reduced model was written but could not be checked against the original: ${e.message}`);
    return null;
  }
  await recordCheck(result.outDir, check);
  if (check.top1Agreement !== null && check.top1Agreement < TOP1_WARNING) {
    warn(`the reduced model's top-1 class agrees with the original's on only ${percent(check.top1Agreement)} of ${check.inputs}: ` +
      'it no longer classifies like the original (try a higher --threshold, calibration inputs like the real ones, or --auto)');
  } else if (!check.withinTolerance) {
    warn(`the reduced model's outputs deviate from the original's by up to ${check.maxRel.toExponential(2)} (relative) on ${check.inputs}, ` +
      `beyond the tolerance ${tolerance}; a higher --threshold or calibration inputs bring it closer`);
  }
  return check;
}

/**
 * The warning when the check's runtime cannot run a model. Still exit 0: the reduction was written
 * whole, and only the check is missing. When the original fails there too, the input is what the
 * runtime refuses (often a runtime older than the file, or an attribute the engine does not read),
 * so the line says so; refusing with exit 2 would mean either leaving a written output behind a
 * failure exit or running the original through the runtime before every write.
 */
function unrunnableWarning(e: UnrunnableModel, original: string): string {
  const whose = path.resolve(e.file) === path.resolve(original) ? `the original ${original} fails there too: ` : '';
  return `the reduced model was written but could not be checked in ${e.runtime}: ${whose}${e.reason}`;
}

/** The summary line. */
export function formatCheck(check: OutputCheck): string {
  const top1 = check.top1Agreement === null ? '' : `, top-1 agreement ${percent(check.top1Agreement)}`;
  return `Against the original on ${check.inputs}: max relative deviation ${check.maxRel.toExponential(2)}, mean ${check.meanRel.toExponential(2)}${top1} ` +
    `(${check.withinTolerance ? 'within' : 'beyond'} the tolerance ${check.tolerance}).`;
}

function percent(share: number): string {
  return `${(100 * share).toFixed(1)} %`;
}
