import { Calibration, CalibrationSpec, loadCalibration } from './data/calibration';
import { completeLinkage } from './similarity/cluster';
import { CalibrationData, measureLayer } from './similarity/data';
import { CancelToken, throwIfCancelled } from './model/errors';
import { openModel } from './formats/index';
import { productEngine } from './compute/engines';
import { GraphEvaluator, originalWeights } from './compute/evaluator';
import { kernelSize, LayerNode } from './model/graph';
import { jointVectors } from './similarity/jointVectors';
import { GramEngine, highestSimilarity, neuronVectors, NeuronVectors, typescriptGram, unitRows } from './similarity/weights';
import { ProducerInfo } from './structure/walk';
import { LayerSummary, ModelSummary, SizeTerm } from './estimate';
import { ModelSource, OpenOptions } from './model/registry';
import { sizeOf, STORAGE_BYTES } from './model/tensor';
import { describeProducers } from './structure/producers';

export interface LoadedModel {
  source: ModelSource;
  producers: ProducerInfo[];
}

/** Opens a model in any supported format (chosen by extension) and finds its condensable layers. */
export async function loadModel(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const source = await openModel(file, options);
  return { source, producers: describeProducers(source.graph) };
}

interface AnalysisProgress {
  layer: string;
  /** Layers done so far, of `total`. */
  done: number;
  total: number;
}

export interface AnalyzeOptions {
  gram?: GramEngine;
  /** Reported as the summary's backend. */
  backend?: string;
  onProgress?: (p: AnalysisProgress) => void;
  cancel?: CancelToken;
  /** Inputs to measure similarity on: the cosine of the units' pre-activations over them (see similarity/data.ts). */
  calibration?: Calibration;
  /** Reduce layers whose bias dominates their weights even when similarity is measured on weights. */
  allowBiasDominated?: boolean;
}

/** Everything the merge step needs besides the summary, per analysed layer. */
export interface LayerDetail {
  info: ProducerInfo;
  vectors: NeuronVectors;
  /** Unit indices taking part in clustering (dead units excluded); leaf i of the dendrogram is live[i]. */
  live: Int32Array;
  dead: Int32Array;
}

export interface Analysis {
  model: LoadedModel;
  summary: ModelSummary;
  details: Map<string, LayerDetail>;
}

/** The original network on the calibration inputs, for similarity measured on the data. */
async function calibrationEvaluator(model: LoadedModel, calibration: Calibration): Promise<CalibrationData> {
  const products = await productEngine();
  return { evaluator: new GraphEvaluator(model.source.graph, calibration.input, originalWeights, products), products };
}

export interface AnalyzeFileOptions extends Omit<AnalyzeOptions, 'calibration'> {
  /** How to open the file (e.g. the activation of a weights-only file). */
  open?: OpenOptions;
  /** Calibration inputs to read or generate for the model; without them similarity is measured on the weights. */
  calibration?: CalibrationSpec;
}

export interface AnalysedFile {
  /** The analysis, with the opened model as `analysis.model`. */
  analysis: Analysis;
  /** The calibration inputs the analysis measured on, for the refit and the searches that follow. */
  calibration?: Calibration;
}

/** The one way from a file to its analysis: open the model, read its calibration inputs (if any), analyse. */
export async function analyzeFile(file: string, options: AnalyzeFileOptions = {}): Promise<AnalysedFile> {
  const { open, calibration: spec, ...analyzeOptions } = options;
  const model = await loadModel(file, open);
  const calibration = spec ? await loadCalibration(model.source.graph, spec, model.source.path) : undefined;
  const analysis = await analyzeModel(model, { ...analyzeOptions, calibration });
  return { analysis, calibration };
}

export async function analyzeModel(model: LoadedModel, options: AnalyzeOptions = {}): Promise<Analysis> {
  const gram = options.gram ?? typescriptGram;
  const details = new Map<string, LayerDetail>();
  const analysed = new Map<string, AnalysedTerms>();
  const data = options.calibration ? await calibrationEvaluator(model, options.calibration) : null;
  const producers: ProducerInfo[] = [];
  let done = 0;
  for (const producer of model.producers) {
    throwIfCancelled(options.cancel);
    options.onProgress?.({ layer: producer.layer.name, done, total: model.producers.length });
    // The members of a joint group after its lead share the lead's vectors and clustering (and its refusal, if any).
    const lead = producer.joint && producer.joint.lead !== producer.layer.name ? details.get(producer.joint.lead)! : null;
    if (lead) {
      const info = { ...producer, reason: lead.info.reason };
      producers.push(info);
      details.set(info.layer.name, { ...lead, info });
      analysed.set(info.layer.name, analysed.get(lead.info.layer.name)!);
      done++;
      continue;
    }
    const weights = producer.joint ? jointVectors(producer.joint, producer.units) : neuronVectors(producer);
    const { live, dead } = splitDead(producer, weights);
    const { info, vectors, similarity, biasDominance } = await measureLayer(producer, weights, live, data, gram, options.allowBiasDominated === true);
    producers.push(info);
    const rows = unitRows(vectors, live);
    const s = await gram.gram(rows, live.length, vectors.d);
    throwIfCancelled(options.cancel);
    const highest = highestSimilarity(s, live.length);
    const dendrogram = completeLinkage(s, live.length);
    details.set(info.layer.name, { info, vectors, live, dead });
    analysed.set(info.layer.name, {
      dendrogram,
      highest,
      dead: info.reason === null ? dead.length : 0,
      activation: info.activation.name,
      similarity,
      biasDominance,
    });
    done++;
  }
  options.onProgress?.({ layer: '', done, total: model.producers.length });
  return { model, summary: summarize({ ...model, producers }, analysed, gram.name, options.backend), details };
}

/** A unit whose input weights are all zero and whose activation maps its bias to 0 outputs zero everywhere. */
function splitDead(info: ProducerInfo, v: NeuronVectors): { live: Int32Array; dead: Int32Array } {
  const live: number[] = [];
  const dead: number[] = [];
  const act = info.activation;
  const zeroAtZero = act.apply(0) === 0;
  for (let j = 0; j < v.n; j++) {
    if (v.zeroWeights[j] && zeroAtZero && act.apply(v.bias[j]) === 0) dead.push(j);
    else live.push(j);
  }
  return { live: Int32Array.from(live), dead: Int32Array.from(dead) };
}

type AnalysedTerms = Pick<LayerSummary, 'dendrogram' | 'highest' | 'dead' | 'activation' | 'similarity' | 'biasDominance'>;

function summarize(
  model: LoadedModel,
  analysed: Map<string, AnalysedTerms>,
  engine: string,
  backend: string | undefined,
): ModelSummary {
  const { producers } = model;
  const { graph } = model.source;
  const byName = new Map(producers.map((p) => [p.layer.name, p]));
  const reducible = (name: string): boolean => byName.get(name)?.reason === null;
  // Which reducible producers feed each consumer's input channels (several through a Concatenate; a joint group by its lead).
  const feeds = new Map<string, Feed[]>();
  // BatchNormalization → the layer it is folded into, and the producer whose units it keeps.
  const foldedInto = new Map<string, { into: string; unitsOf: string }>();
  // DepthwiseConv2D following a reducible group → the group's lead.
  const followerOf = new Map<string, string>();
  for (const p of producers) {
    if (p.batchNorm) foldedInto.set(p.batchNorm.name, { into: p.layer.name, unitsOf: p.layer.name });
    if (p.reason !== null || (p.joint && p.joint.lead !== p.layer.name)) continue;
    for (const f of p.joint?.followers ?? []) {
      followerOf.set(f.layer.name, p.layer.name);
      if (f.batchNorm) foldedInto.set(f.batchNorm.name, { into: f.layer.name, unitsOf: p.layer.name });
    }
    for (const c of p.consumers) {
      feeds.set(c.layer.name, [...(feeds.get(c.layer.name) ?? []), { producer: p.layer.name, positions: c.positions, channels: p.units }]);
    }
  }
  const owned = new Set<string>();
  const layers = graph.layers.filter((layer) => !layer.synthetic).map((layer): LayerSummary => {
    for (const w of layer.weights.values()) owned.add(w.name);
    const info = byName.get(layer.name);
    const extra = analysed.get(layer.name);
    const storedParams = [...layer.weights.values()].reduce((s, w) => s + w.data.length, 0);
    const storedBytes = [...layer.weights.values()].reduce((s, w) => s + w.data.length * STORAGE_BYTES[w.storage], 0);
    const base = {
      name: layer.name,
      type: layer.className,
      bytesPerParam: storedParams ? storedBytes / storedParams : 4,
      dead: 0,
      dendrogram: null,
      highest: null,
      activation: null,
    };
    if (info && extra) {
      const { params, macs } = condensableTerms(layer, info, feeds.get(layer.name) ?? [], reducible(layer.name));
      const joint = info.joint && info.reason === null ? { joint: { lead: info.joint.lead, note: info.joint.note } } : {};
      return { ...base, ...extra, units: info.units, analysed: true, reducible: info.reason === null, reason: info.reason, params, macs, ...joint };
    }
    const folded = foldedInto.get(layer.name);
    if (folded) {
      const factors = reducible(folded.unitsOf) ? [folded.unitsOf] : [];
      const units = byName.get(folded.unitsOf)!.units;
      const coef = layer.weights.size * (factors.length ? 1 : units);
      return { ...base, units: null, analysed: false, reducible: false, reason: `folded into ${folded.into} for analysis`, params: [{ coef, factors }], macs: [] };
    }
    const lead = followerOf.get(layer.name);
    if (lead) {
      // A depthwise filter and bias per channel: they shrink with the group's channels.
      const coef = storedParams / byName.get(lead)!.units;
      return { ...base, units: null, analysed: false, reducible: false, reason: `follows the channels of ${lead}`, params: [{ coef, factors: [lead] }], macs: [] };
    }
    const reason = storedParams === 0 ? null : `not analysed: ${layer.className}`;
    return { ...base, units: null, analysed: false, reducible: false, reason, params: [{ coef: storedParams, factors: [] }], macs: [] };
  });
  const otherParams = model.source.weights.filter((w) => !owned.has(w.name)).reduce((s, w) => s + w.data.length, 0);
  return {
    model: model.source.path,
    format: model.source.format,
    backend: backend ?? engine,
    layers,
    otherParams,
  };
}

/** A reduced producer feeding a layer: `channels` of the layer's inputs per position, `positions` each. */
interface Feed {
  producer: string;
  positions: number;
  channels: number;
}

/** Parameter and multiply-add terms of a Dense/Conv2D layer, in terms of the units that reduction changes. */
function condensableTerms(
  layer: LayerNode,
  info: ProducerInfo,
  feeds: Feed[],
  selfReducible: boolean,
): { params: SizeTerm[]; macs: SizeTerm[] } {
  const kernel = layer.weights.get('kernel')!;
  const spatial = info.kind === 'Conv2D' ? kernelSize(layer)[0] * kernelSize(layer)[1] : 1;
  const inputs = kernel.data.length / info.units / spatial;
  const outFactor = selfReducible ? [layer.name] : [];
  const outCoef = selfReducible ? 1 : info.units;
  const kernelTerms: SizeTerm[] = feeds.map((f) => ({ coef: spatial * f.positions * outCoef, factors: [f.producer, ...outFactor] }));
  // Inputs no reduced producer feeds (all of them, or the other sources of a Concatenate).
  const fixedInputs = inputs - feeds.reduce((s, f) => s + f.positions * f.channels, 0);
  if (fixedInputs > 0 || feeds.length === 0) kernelTerms.push({ coef: spatial * fixedInputs * outCoef, factors: outFactor });
  const params: SizeTerm[] = [...kernelTerms];
  const bias = layer.weights.get('bias');
  if (bias && layer.config.use_bias !== false) params.push({ coef: outCoef, factors: outFactor });
  // Output positions: everything but the channel axis (H·W for conv; leading axes for Dense on N-D input).
  const shape = layer.outputShape;
  const positions = shape && shape.every((d) => d !== null) ? sizeOf(shape.slice(0, -1)) : 1;
  return { params, macs: kernelTerms.map((t) => ({ coef: t.coef * positions, factors: t.factors })) };
}
