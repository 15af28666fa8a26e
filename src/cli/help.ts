/** The CLI's help texts: the overview (`condense --help`) and one page per command (`condense reduce --help`). */
import { BACKENDS } from '../core/compute/backend';
import { DEFAULT_CALIBRATION_SAMPLES, DEFAULT_MEMORY_MIB } from '../core/data/calibration';
import { DEFAULT_TIMING_BATCHES, MAX_TIMING_BATCH } from '../core/estimate';
import { DEFAULT_EPOCHS, DEFAULT_ROUNDS } from '../core/train/schedule';
import { version } from '../../package.json';

export const VERSION = version;

const FORMATS = `MODEL is a TF.js Layers model.json, an .onnx file, a Keras .h5/.hdf5/.keras file, or PyTorch weights
(.pt, .pth, .safetensors); a folder holding exactly one of these stands for it.`;

const DATA = `Data files (--calibration, --data, --val-*, --train-*, --labels) are .npy, .json (nested arrays) or .csv,
one row per sample. A row's shape must be the model's input shape; a channel of size 1 may be left out
([N,28,28] for [28,28,1]) and a .csv row holds the input flattened. Images are channels-last, or NCHW for
ONNX and PyTorch models.`;

const COMMON = `Common options:
  --backend B           ${BACKENDS.join(', ')} (default auto)
  --activation NAME     the activation between the layers of weights-only PyTorch files (default relu;
                        ignored, with a warning, for formats that store their activations)
  --max-model-mb N      refuse models whose files or tensors exceed N MiB (default 2048), before reading them
  --memory-mb N         memory for condense's evaluation of calibration/validation rows (default ${DEFAULT_MEMORY_MIB} MiB);
                        fewer rows are used when a model's rows do not fit, and the output says so
  --quiet               no progress lines on stderr
  --help, --version`;

const CALIBRATION = `Calibration (similarity on data, and a least-squares refit of the next layers by reduce):
  --calibration FILE                 unlabelled inputs (at most 4096 rows are used, evenly spaced)
  --calibration-range LOW,HIGH       generate uniform samples instead
  --calibration-samples N            how many (default ${DEFAULT_CALIBRATION_SAMPLES})
  --allow-bias-dominated             reduce layers whose bias dominates their weights even without data`;

const ROUND_TO = `Hardware-friendly widths:
  --round-to N                       round each reduced width up to a multiple of N (capped at the layer's
                                     width) by keeping more representatives, never by merging more`;

const AUTO = `Automatic thresholds:
  --auto --tolerance X --val-inputs FILE --val-targets FILE
      per-layer thresholds for the smallest model whose validation error is within X: the relative MSE
      increase (0.1 = 10 % worse), or for targets that are class indices the accuracy drop (0.01 = one point).
      Every validation row is used unless the memory budget cannot hold them (the output then says how many).`;

const RETRAIN = `Retraining (every format):
  --train-inputs FILE --train-targets FILE --val-inputs FILE --val-targets FILE --tolerance X
  [--epochs N (${DEFAULT_EPOCHS})] [--rounds R (${DEFAULT_ROUNDS})] [--target-ratio R] [--learning-rate X (chosen)] [--batch-size N (chosen)]
      condense–retrain cycles: each round condenses the current model (refitted on --calibration, by default
      the training inputs; without --threshold each round removes 12 % of the remaining units), fine-tunes it
      (Adam; the learning rate from a range test unless given: the largest whose first epoch is within 5 % of
      the best; steady for the first half of the epochs, then halved after 2 epochs without a better
      validation loss, the round ended after 6, the best epoch kept; batch size 32–256, the largest leaving
      64 steps an epoch; batches shuffled from a fixed seed) and measures the written file in its own
      runtime; the smallest round within the validation tolerance is written.
  [--trainer embedded|pytorch (embedded)] [--python PATH] [--device auto|cpu|cuda (auto)] [--workers N (1)]
  [--nnodes N --rdzv-endpoint HOST:PORT]
      pytorch trains with the same schedule in PyTorch (python/condense_train.py; Python with torch 1.12+ and
      numpy; default python3 on PATH, or /usr/bin/python3 when that one lacks torch); auto: CUDA when torch
      sees it; --workers N: data-parallel processes under torchrun (DistributedDataParallel, gloo on the CPU,
      nccl on GPUs); several machines: --nnodes and the rendezvous address, the same command on each (untested).`;

const EXIT = `Exit codes: 0 success, 1 a failed check (verify over tolerance, nothing met a tolerance),
2 bad input or usage (one line naming the file or flag), 3 internal error (a bug: please report it).`;

const COMMAND_HELP = new Map<string, string>([
  [
    'analyze',
    `condense analyze MODEL [--threshold T | AUTO] [--json] [CALIBRATION] [options]

Prints per layer: units, clusters at the threshold γ (default 0.95), how similarity was measured, dead
units, parameters and multiply-adds before → after, and why a layer is not reduced. --json prints the
documented JSON document instead (stdout holds nothing else).

${CALIBRATION}

${ROUND_TO}

${AUTO}

${COMMON}`,
  ],
  [
    'reduce',
    `condense reduce MODEL --out DIR [--threshold T [--tolerance X] | AUTO | RETRAIN] [--force] [CALIBRATION] [options]

Writes the reduced model and condense-report.json into DIR (which must not exist unless --force), then
checks it against the original (on the calibration file's rows, fresh samples from the calibration range,
or 128 standard-normal samples) and prints how far its outputs moved (and top-1 agreement for classifiers);
it warns when the max relative deviation is beyond --tolerance X (default 1e-3, verify's; with --auto
--tolerance is the validation tolerance and the check keeps 1e-3).

${CALIBRATION}

${ROUND_TO}

${AUTO}
      When no candidate both meets the tolerance and condenses, nothing is written unless --force.

${RETRAIN}

${COMMON}`,
  ],
  [
    'verify',
    `condense verify ORIGINAL REDUCED [--data FILE] [--samples N] [--range LOW,HIGH] [--seed S]
                 [--tolerance X] [--labels FILE] [--classifier] [--timing [--batch B1,B2,…] [--threads N]] [options]

Runs both models on the same inputs: rows of --data, or N generated samples (default 256, standard normal
from seed S, uniform in [LOW, HIGH] with --range). Prints the max and mean absolute and relative deviation
(|y − ŷ| / max(|y|, rms(y))), the top-1 (argmax) agreement for softmax classifiers — and for models ending
in logits with --classifier or --labels — and with --labels (one class index per row of --data) both
models' accuracy. Exits 1 when the max relative deviation exceeds X (default 1e-3) — with --labels, when
the reduced model's accuracy is more than X below the original's (0.01 = one point), as for a retrained
classifier, whose scores move while its answers hold.

Measured speed-up:
  --timing              also time both models in their format's runtime (onnxruntime for ONNX; tfjs for
                        TF.js and Keras, tfjs-node or else wasm; condense's evaluator for PyTorch weights):
                        per batch size the median ms of each after warm-up, the speed-up and the multiply-add
                        ratio; kept as "timing" in the condense-report.json beside REDUCED when it names it
  --batch B1,B2,…       batch sizes (default ${DEFAULT_TIMING_BATCHES.join(',')}; each 1 to ${MAX_TIMING_BATCH}); inputs: generated
                        samples from seed S, or the rows of --data repeated to fill a batch
  --threads N           onnxruntime's intra-op threads (default: its own); the output says when a runtime ignores it

${COMMON}`,
  ],
]);

export function commandHelp(command: string): string | undefined {
  const page = COMMAND_HELP.get(command);
  return page && `${page}\n\n${DATA}\n\n${EXIT}`;
}

export const USAGE = `condense ${VERSION} — shrink trained neural networks by condensation

Usage:
  condense analyze MODEL [--threshold T | AUTO] [--json] [CALIBRATION] [options]
  condense reduce  MODEL --out DIR [--threshold T [--tolerance X] | AUTO | RETRAIN] [--force] [CALIBRATION] [options]
  condense verify  ORIGINAL REDUCED [--data FILE [--labels FILE] | --samples N [--range LOW,HIGH] [--seed S]] [--classifier] [--tolerance X]
                   [--timing [--batch B1,B2,…] [--threads N]] [options]
  condense export  MODEL --to c|fortran --out DIR [--name NAME] [--force]
  condense COMMAND --help     every flag of one command

${FORMATS}

export writes dependency-free C (NAME.h, NAME.c) or Fortran 2008 (NAME.f90) computing a model of Dense layers
and element-wise activations, with a test program and its compile line in DIR/README.md.

${CALIBRATION.replace('Calibration (', 'CALIBRATION (')}

${AUTO.replace('Automatic thresholds:', 'AUTO:')}

${RETRAIN.replace('Retraining (', 'RETRAIN (')}

${ROUND_TO}

${COMMON}

${DATA}

${EXIT}`;
