/**
 * The PyTorch trainer: python/condense_train.py, run with an interpreter that has torch and numpy,
 * trains a round's condensed model with the embedded trainer's schedule, on CPU or a CUDA GPU, in one
 * process or data-parallel under torchrun (`python -m torch.distributed.run`, DistributedDataParallel).
 * The engine's graph goes to the script as a JSON list of nodes (the layer kinds the embedded trainer
 * builds, each described by its entry in that trainer's table, train/layers.ts), the weights and data
 * as raw float32 files; the script streams one JSON line per epoch and writes the trained weights as
 * raw float32, which come back as the engine's tensors by weight name. Cancel kills the script's process group; Pause stops it
 * (SIGSTOP) and Resume continues it (SIGCONT) — on Windows, which has no process groups or stop
 * signals, Pause waits for the process to end instead.
 */
import { ChildProcess, spawn } from 'child_process';
import * as net from 'net';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputError } from '../model/errors';
import { ModelGraph } from '../model/graph';
import { sizeOf, Tensor } from '../model/tensor';
import { isInput } from '../structure/layerKinds';
import { EpochReport, PATIENCES_TO_STOP } from './fineTune';
import { ScriptSettings, TRAINABLE_KINDS, unbuildable } from './layers';
import { ancestors } from './network';
import { LEARNING_RATE_CANDIDATES, RangeTrial, RATE_MARGIN } from './schedule';
import type { Trainer, TrainerData, TrainingJob, TrainingOutcome } from './trainer';

export type TrainingDevice = 'auto' | 'cpu' | 'cuda';

export interface PytorchSettings {
  /** The interpreter; without it `python3` on PATH, or /usr/bin/python3 when that one has no torch. */
  python?: string;
  device: TrainingDevice;
  /** Data-parallel processes on this machine (more than 1: torchrun). */
  workers: number;
  /** Machines taking part (torchrun --nnodes; with `rendezvous`). Untested beyond one machine. */
  nodes?: number;
  /** host:port every machine reaches (torchrun --rdzv_endpoint, c10d rendezvous). */
  rendezvous?: string;
}

/** The script, next to the bundles' folder (dist/ → python/) or the sources' (src/core/train/ → python/). */
function trainingScript(): string {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'python', 'condense_train.py');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`condense_train.py not found above ${__dirname} (the installation is incomplete)`);
}

/** What `condense_train.py --check` found. */
export interface PythonCheck {
  python: string;
  torch: string;
  device: 'cpu' | 'cuda';
  /** Why the default interpreter was not the first tried (for the user). */
  note?: string;
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs: number): Promise<Finished & { spawnError?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, windowsHide: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (spawnError) => resolve({ code: null, signal: null, stdout, stderr, spawnError }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The last non-empty line of a process's error output (the script says what is wrong in one). */
const lastLine = (text: string): string => text.trim().split(/\r?\n/).filter(Boolean).pop() ?? '';

const PYTHON_HINT = 'install Python 3 with torch and numpy (Debian/Ubuntu: apt-get install python3-torch python3-numpy), or give the interpreter with --python PATH (the condense.python setting)';

/** Runs the script's check with one interpreter: its finding, or the one-line problem. */
async function checkPython(python: string, device: TrainingDevice): Promise<PythonCheck | string> {
  const found = await run(python, [trainingScript(), '--check', '--device', device], 120_000);
  if (found.spawnError) return (found.spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? `not found: ${PYTHON_HINT}` : found.spawnError.message;
  if (found.code !== 0) return lastLine(found.stderr) || `the check ended with ${found.signal ?? `exit status ${found.code}`}`;
  try {
    const parsed = JSON.parse(lastLine(found.stdout)) as { torch: string; device: 'cpu' | 'cuda' };
    return { python, torch: parsed.torch, device: parsed.device };
  } catch {
    return `its check printed "${lastLine(found.stdout)}", not what condense_train.py prints`;
  }
}

/**
 * The interpreter the trainer runs: the given one, or `python3` on PATH, or /usr/bin/python3 when
 * the one on PATH lacks torch (pyenv and virtual environments often do). A problem is an InputError
 * naming the interpreter and what to install or set.
 */
export async function findPython(given: string | undefined, device: TrainingDevice): Promise<PythonCheck> {
  if (given !== undefined) {
    const found = await checkPython(given, device);
    if (typeof found === 'string') throw new InputError(given, found);
    return found;
  }
  const onPath = process.platform === 'win32' ? 'python' : 'python3';
  const first = await checkPython(onPath, device);
  if (typeof first !== 'string') return first;
  const system = '/usr/bin/python3';
  if (process.platform !== 'win32' && existsSync(system)) {
    const second = await checkPython(system, device);
    if (typeof second !== 'string') return { ...second, note: `${onPath} on PATH ${first.replace(/:.*$/, '')}` };
  }
  throw new InputError(onPath, `${first} (no --python PATH or condense.python setting was given)`);
}

/** A node as condense_train.py builds it (see build_network there). */
type NodeSpec = ScriptSettings & { name: string; inbound: string[]; weights: WeightSpec[] };
interface WeightSpec {
  role: string;
  name: string;
  shape: number[];
  /** Where the weight starts in the weights file, in float32 numbers. */
  offset: number;
}

/**
 * The graph, from its single input to its first output, as the script's node list, and the weights
 * in the order the list names them (one float32 buffer). `inputShape`: one sample's, channels-last.
 */
function describeNetwork(graph: ModelGraph, file: string, inputShape: number[]): { nodes: NodeSpec[]; output: string; weights: Float32Array } {
  if (graph.inputs.length !== 1) throw new InputError(file, 'retraining supports single-input models only');
  const needed = ancestors(graph, graph.outputs[0]);
  const nodes: NodeSpec[] = [];
  const values: Float32Array[] = [];
  let offset = 0;
  // Ranks (batch included) of each node's output, for the concatenation axis check.
  const ranks = new Map<string, number>();
  for (const node of graph.layers) {
    if (!needed.has(node.name)) continue;
    if (isInput(node)) {
      nodes.push({ name: node.name, op: 'input', inbound: [], weights: [] });
      ranks.set(node.name, inputShape.length + 1);
      continue;
    }
    const kind = TRAINABLE_KINDS.get(node.className);
    if (!kind) throw unbuildable(file, node);
    if (node.shared) throw unbuildable(file, node, 'a layer shared by several calls');
    const inputRank = ranks.get(node.inbound[0]) ?? 2;
    let settings;
    try {
      settings = kind.pytorch(node, inputRank);
    } catch (e) {
      throw unbuildable(file, node, (e as Error).message);
    }
    const weights = (kind.roles?.(node) ?? []).map((role): WeightSpec => {
      const w = node.weights.get(role);
      if (!w) throw unbuildable(file, node, `no "${role}" weight`);
      const spec = { role, name: w.name, shape: w.shape.slice(), offset };
      values.push(Float32Array.from(w.data));
      offset += sizeOf(w.shape);
      return spec;
    });
    ranks.set(node.name, settings.op === 'flatten' || settings.op === 'gap' || settings.op === 'gmp' ? (settings.keepdims ? 4 : 2) : inputRank);
    nodes.push({ name: node.name, inbound: node.inbound.slice(), weights, ...settings });
  }
  const weights = new Float32Array(offset);
  let at = 0;
  for (const v of values) {
    weights.set(v, at);
    at += v.length;
  }
  return { nodes, output: graph.outputs[0], weights };
}

/** The trained weights file, in the node list's order, as the engine's tensors by weight name. */
function readTrainedWeights(nodes: NodeSpec[], bytes: Uint8Array, file: string): Map<string, Tensor> {
  const specs = nodes.flatMap((n) => n.weights);
  const total = specs.reduce((s, w) => s + sizeOf(w.shape), 0);
  if (bytes.byteLength !== 4 * total) throw new Error(`${file} holds ${bytes.byteLength} bytes, ${4 * total} expected`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const changed = new Map<string, Tensor>();
  for (const w of specs) changed.set(w.name, { shape: w.shape.slice(), dtype: 'float32', data: all.slice(w.offset, w.offset + sizeOf(w.shape)) });
  return changed;
}

const asBytes = (data: Float32Array): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

/** The script's events on stdout, one JSON object a line. */
type ScriptEvent =
  | { event: 'epoch'; epoch: number; loss: number; valLoss: number; seconds: number }
  | { event: 'rangeTest'; learningRate: number; trials: { learningRate: number; valLoss: number | null }[] }
  | { event: 'done'; outcome: 'completed' | 'stopped'; bestEpoch: number | null; learningRate: number; epochs: number };

/** A TCP port free on this machine right now, for a one-machine torchrun rendezvous. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The command that runs the script: directly, or under torchrun for more than one process. */
async function scriptCommand(python: string, settings: PytorchSettings, jobFile: string): Promise<string[]> {
  const script = trainingScript();
  const nodes = settings.nodes ?? 1;
  if (settings.workers <= 1 && nodes <= 1) return [python, script, jobFile];
  // torchrun, started by the script in the chosen interpreter; underscores are the spelling every torch version takes.
  const launch = nodes > 1
    ? [`--nnodes=${nodes}`, '--rdzv_backend=c10d', `--rdzv_endpoint=${settings.rendezvous}`, '--rdzv_id=condense']
    // Not --standalone: it always meets on port 29400, so two runs on one machine would join each other's rendezvous.
    : ['--nnodes=1', '--rdzv_backend=c10d', `--rdzv_endpoint=127.0.0.1:${await freePort()}`, `--rdzv_id=condense-${process.pid}-${Date.now()}`];
  return [python, script, '--torchrun', ...launch, `--nproc_per_node=${settings.workers}`, script, jobFile];
}

/** Sends a signal to the child's whole process group (it was started as a group leader), or to it alone on Windows. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (process.platform === 'win32') child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** The PyTorch trainer; the interpreter is checked first (an InputError saying what to install or set). */
export async function pytorchTrainer(settings: PytorchSettings): Promise<Trainer> {
  if (!Number.isInteger(settings.workers) || settings.workers < 1) throw new Error(`workers must be a positive integer, got ${settings.workers}`);
  if ((settings.nodes ?? 1) > 1 && !settings.rendezvous) throw new Error('several nodes need a rendezvous address (host:port)');
  const found = await findPython(settings.python, settings.device);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-pytorch-'));
  let written: { data: TrainerData; files: Record<keyof TrainerData, { file: string; shape: number[] }> } | null = null;
  const processes = settings.workers * (settings.nodes ?? 1);
  /** Process groups still training: dispose ends them (a run dropped mid-round, a test that timed out). */
  const running = new Set<ChildProcess>();

  /** The data files, written once per run (every round trains on the same rows). */
  async function dataFiles(data: TrainerData) {
    if (written && (Object.keys(data) as (keyof TrainerData)[]).every((k) => written!.data[k] === data[k])) return written.files;
    const files = {} as Record<keyof TrainerData, { file: string; shape: number[] }>;
    for (const key of ['trainX', 'trainY', 'valX', 'valY'] as const) {
      const file = path.join(dir, `${key}.f32`);
      await fs.writeFile(file, asBytes(data[key].dataSync() as Float32Array));
      files[key] = { file, shape: data[key].shape.slice() };
    }
    written = { data, files };
    return files;
  }

  return {
    label: `PyTorch ${found.torch} on ${found.device}${processes > 1 ? `, ${processes} processes (torch.distributed, ${found.device === 'cuda' ? 'nccl' : 'gloo'})` : ''}, ${found.python}${found.note ? ` (${found.note})` : ''}`,
    async train(job, data) {
      const aborted = (): TrainingOutcome => ({ history: [], outcome: 'aborted', learningRate: NaN, weights: new Map() });
      if (job.signal?.aborted) return aborted();
      const { nodes, output, weights } = describeNetwork(job.graph, job.file, job.inputShape);
      const weightsFile = path.join(dir, `weights-${job.seed}.f32`);
      const out = path.join(dir, `trained-${job.seed}.f32`);
      const jobFile = path.join(dir, `job-${job.seed}.json`);
      await fs.writeFile(weightsFile, asBytes(weights));
      await fs.rm(out, { force: true });
      await fs.writeFile(jobFile, JSON.stringify({
        nodes, output, inputShape: job.inputShape, weightsFile, out, data: await dataFiles(data), device: found.device,
        loss: job.loss, batchSize: job.batchSize, epochs: job.epochs, seed: job.seed, patience: job.patience, steadyEpochs: job.steadyEpochs ?? 0, patiencesToStop: PATIENCES_TO_STOP,
        learningRate: job.learningRate ?? null, candidates: LEARNING_RATE_CANDIDATES, rateMargin: RATE_MARGIN, optimizer: job.optimizer ?? 'adam', shuffle: job.shuffle ?? true,
      }));
      try {
        const result = await runScript(await scriptCommand(found.python, settings, jobFile), job);
        if (result === 'aborted') return aborted();
        const trained = readTrainedWeights(nodes, new Uint8Array(await fs.readFile(out)), out);
        return { ...result, weights: trained };
      } finally {
        await Promise.all([weightsFile, out, jobFile].map((f) => fs.rm(f, { force: true })));
      }
    },
    dispose: async () => {
      for (const child of running) signalGroup(child, 'SIGKILL');
      running.clear();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };

  /** Runs the script to its end, streaming its epochs; 'aborted' when the signal ended it. */
  function runScript(command: string[], job: TrainingJob): Promise<Omit<TrainingOutcome, 'weights'> | 'aborted'> {
    return new Promise((resolve, reject) => {
      // stdin stays open and unwritten: the script ends its group when it closes (this process gone).
      const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: process.platform !== 'win32', windowsHide: true });
      const history: EpochReport[] = [];
      let rangeTest: TrainingOutcome['rangeTest'];
      let done: Extract<ScriptEvent, { event: 'done' }> | undefined;
      let stderr = '';
      let pending = '';
      let stopped = false;
      running.add(child);
      const onAbort = (): void => signalGroup(child, 'SIGKILL');
      job.signal?.addEventListener('abort', onAbort);
      // A paused (stopped) group cannot see its stdin close: this process ending kills it.
      process.on('exit', onAbort);
      // Pause: the gate is closed between the checks; the group stops until it opens (or the run is cancelled).
      const watch = setInterval(() => {
        if (!job.gate?.paused || stopped || process.platform === 'win32') return;
        stopped = true;
        signalGroup(child, 'SIGSTOP');
        void job.gate.wait(job.signal).then(() => {
          stopped = false;
          signalGroup(child, 'SIGCONT');
        });
      }, 100);
      const line = (text: string): void => {
        let event: ScriptEvent;
        try {
          event = JSON.parse(text) as ScriptEvent;
        } catch {
          return; // torchrun's own chatter
        }
        if (event.event === 'epoch') {
          const report: EpochReport = { epoch: event.epoch, loss: event.loss, valLoss: event.valLoss };
          history.push(report);
          job.onEpoch?.(report);
        } else if (event.event === 'rangeTest') {
          const trials: RangeTrial[] = event.trials.map((t) => ({ learningRate: t.learningRate, valLoss: t.valLoss ?? NaN }));
          rangeTest = { learningRate: event.learningRate, trials };
        } else if (event.event === 'done') done = event;
      };
      child.stdout.on('data', (d: Buffer) => {
        pending += d.toString();
        const lines = pending.split('\n');
        pending = lines.pop()!;
        lines.forEach(line);
      });
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
      const finish = (): void => {
        running.delete(child);
        clearInterval(watch);
        job.signal?.removeEventListener('abort', onAbort);
        process.off('exit', onAbort);
      };
      child.on('error', (e) => {
        finish();
        reject(e);
      });
      child.on('close', (code, signal) => {
        finish();
        if (pending) line(pending);
        if (job.signal?.aborted) return resolve('aborted');
        // The script's own refusals are one line; under torchrun that line is among the launcher's.
        const problem = stderr.split(/\r?\n/).find((l) => /^(has no|has torch|--device cuda|unknown)/.test(l)) ?? lastLine(stderr);
        if (code === 2) return reject(new InputError(found.python, problem));
        if (code !== 0 || !done) return reject(new Error(`the PyTorch trainer (${found.python}) ended with ${signal ?? `exit status ${code}`}: ${(process.env.CONDENSE_TRAIN_DEBUG ? stderr : problem) || 'no message'}`));
        resolve({
          history, outcome: done.outcome, learningRate: done.learningRate,
          ...(done.bestEpoch !== null ? { bestEpoch: done.bestEpoch } : {}), ...(rangeTest ? { rangeTest } : {}),
        });
      });
    });
  }
}
