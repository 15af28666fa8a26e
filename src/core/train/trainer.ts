/**
 * What trains a round's condensed model: the embedded tfjs trainer (the default, in-process) or the
 * PyTorch trainer (a Python process, on CPU or GPU, optionally data-parallel; see pytorchTrainer.ts).
 * Both take the engine's graph with the file's weights and return the trained weights by weight name —
 * the `changed` map a format's writer takes — with the same schedule: the learning rate from a range
 * test when none is given, the seeded batch order, the plateau back-off keeping the best epoch.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Backend } from '../compute/backend';
import type { ModelGraph } from '../model/graph';
import type { Tensor } from '../model/tensor';
import { EpochReport, fineTune, FineTuneResult, PauseGate, TrainingLoss } from './fineTune';
import { buildTrainable, trainedWeights } from './network';
import { rangeTest, RangeTrial } from './schedule';

/** The rows a run trains and validates on (the caller's tensors; the same for every round of a run). */
export interface TrainerData {
  trainX: TF.Tensor;
  trainY: TF.Tensor;
  valX: TF.Tensor;
  valY: TF.Tensor;
}

/** One round's training. */
export interface TrainingJob {
  graph: ModelGraph;
  /** The model file the graph was read from (errors name it). */
  file: string;
  /** One sample's shape, channels-last. */
  inputShape: number[];
  epochs: number;
  batchSize: number;
  loss: TrainingLoss;
  seed: number;
  /** Without it, a range test chooses it. */
  learningRate?: number;
  /** Epochs in a row without a better validation loss that halve the rate (PATIENCES_TO_STOP times as many end training). */
  patience: number;
  /** Epochs at the starting rate before the back-off may act (the best epoch is kept all the same); 0 when absent. */
  steadyEpochs?: number;
  optimizer?: 'adam' | 'sgd';
  shuffle?: boolean;
  onEpoch?: (report: EpochReport) => void;
  signal?: AbortSignal;
  gate?: PauseGate;
}

export interface TrainingOutcome extends Omit<FineTuneResult, 'history'> {
  history: EpochReport[];
  /** The trained weights by weight name (empty when aborted). */
  weights: Map<string, Tensor>;
  /** When the job gave no learning rate: the range test's choice and trials. */
  rangeTest?: { learningRate: number; trials: RangeTrial[] };
}

export interface Trainer {
  /** What trains, for the user ("embedded tfjs (wasm)", "PyTorch 1.13.0 on cpu, 2 processes"). */
  readonly label: string;
  train(job: TrainingJob, data: TrainerData): Promise<TrainingOutcome>;
  /** Frees what the trainer holds between rounds (files, processes; a job still training is ended). */
  dispose(): Promise<void>;
}

/** The tfjs trainer on the engine's backend. */
export function embeddedTrainer(backend: Backend): Trainer {
  return {
    label: `embedded tfjs (${backend.label})`,
    async train(job, data) {
      const network = buildTrainable(backend.tf, job.graph, job.file, job.inputShape);
      try {
        const fitData = { inputs: data.trainX, targets: data.trainY, valInputs: data.valX, valTargets: data.valY };
        const common = { batchSize: job.batchSize, loss: job.loss, seed: job.seed, signal: job.signal, optimizer: job.optimizer, shuffle: job.shuffle };
        let learningRate = job.learningRate;
        let chosen: TrainingOutcome['rangeTest'];
        if (learningRate === undefined) {
          const tested = await rangeTest(backend, network.model, fitData, common);
          if (!tested) return { history: [], outcome: 'aborted', learningRate: NaN, weights: new Map() };
          chosen = tested;
          learningRate = tested.learningRate;
        }
        const trained = await fineTune(backend, network.model, fitData, {
          ...common, epochs: job.epochs, learningRate, backOff: { patience: job.patience, steadyEpochs: job.steadyEpochs }, onEpoch: job.onEpoch, gate: job.gate,
        });
        const weights = trained.outcome === 'aborted' ? new Map<string, Tensor>() : trainedWeights(network);
        return { ...trained, weights, ...(chosen ? { rangeTest: chosen } : {}) };
      } finally {
        network.model.dispose();
      }
    },
    dispose: async () => undefined,
  };
}
