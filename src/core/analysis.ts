import { completeLinkage } from './cluster';
import { CancelToken, throwIfCancelled } from './errors';
import { openModel } from './formats';
import { kernelSize, LayerNode } from './graph';
import { GramEngine, highestSimilarity, neuronVectors, NeuronVectors, typescriptGram, unitRows } from './similarity';
import { describeProducers, ProducerInfo } from './structure';
import { LayerSummary, ModelSummary, SizeTerm } from './summary';
import { ModelSource, OpenOptions } from './source';
import { sizeOf, STORAGE_BYTES } from './tensor';

export interface LoadedModel {
  source: ModelSource;
  producers: ProducerInfo[];
}

/** Opens a model in any supported format (chosen by extension) and finds its condensable layers. */
export async function loadModel(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const source = await openModel(file, options);
  return { source, producers: describeProducers(source.graph) };
}

export interface AnalysisProgress {
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

export async function analyzeModel(model: LoadedModel, options: AnalyzeOptions = {}): Promise<Analysis> {
  const gram = options.gram ?? typescriptGram;
  const details = new Map<string, LayerDetail>();
  const analysed = new Map<string, Pick<LayerSummary, 'dendrogram' | 'highest' | 'dead' | 'activation'>>();
  let done = 0;
  for (const info of model.producers) {
    throwIfCancelled(options.cancel);
    options.onProgress?.({ layer: info.layer.name, done, total: model.producers.length });
    const vectors = neuronVectors(info);
    const { live, dead } = splitDead(info, vectors);
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
    });
    done++;
  }
  options.onProgress?.({ layer: '', done, total: model.producers.length });
  return { model, summary: summarize(model, analysed, gram.name, options.backend), details };
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

function summarize(
  model: LoadedModel,
  analysed: Map<string, Pick<LayerSummary, 'dendrogram' | 'highest' | 'dead' | 'activation'>>,
  engine: string,
  backend: string | undefined,
): ModelSummary {
  const { producers } = model;
  const { graph } = model.source;
  const byName = new Map(producers.map((p) => [p.layer.name, p]));
  const reducible = (name: string): boolean => byName.get(name)?.reason === null;
  // Which reducible producer feeds each consumer's input channels, and with how many positions per channel.
  const feeder = new Map<string, { producer: string; positions: number }>();
  const foldedInto = new Map<string, string>();
  for (const p of producers) {
    if (p.batchNorm) foldedInto.set(p.batchNorm.name, p.layer.name);
    if (p.reason !== null) continue;
    for (const c of p.consumers) feeder.set(c.layer.name, { producer: p.layer.name, positions: c.positions });
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
      const { params, macs } = condensableTerms(layer, info, feeder.get(layer.name), reducible(layer.name));
      return { ...base, ...extra, units: info.units, analysed: true, reducible: info.reason === null, reason: info.reason, params, macs };
    }
    const folded = foldedInto.get(layer.name);
    if (folded) {
      const factors = reducible(folded) ? [folded] : [];
      const units = byName.get(folded)!.units;
      const coef = layer.weights.size * (factors.length ? 1 : units);
      return { ...base, units: null, analysed: false, reducible: false, reason: `folded into ${folded} for analysis`, params: [{ coef, factors }], macs: [] };
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

/** Parameter and multiply-add terms of a Dense/Conv2D layer, in terms of the units that reduction changes. */
function condensableTerms(
  layer: LayerNode,
  info: ProducerInfo,
  feed: { producer: string; positions: number } | undefined,
  selfReducible: boolean,
): { params: SizeTerm[]; macs: SizeTerm[] } {
  const kernel = layer.weights.get('kernel')!;
  const spatial = info.kind === 'Conv2D' ? kernelSize(layer)[0] * kernelSize(layer)[1] : 1;
  const inputs = kernel.data.length / info.units / spatial;
  const outFactor = selfReducible ? [layer.name] : [];
  const outCoef = selfReducible ? 1 : info.units;
  const inFactor = feed ? [feed.producer] : [];
  const inCoef = feed ? feed.positions : inputs;
  const kernelTerm: SizeTerm = { coef: spatial * inCoef * outCoef, factors: [...inFactor, ...outFactor] };
  const params: SizeTerm[] = [kernelTerm];
  const bias = layer.weights.get('bias');
  if (bias && layer.config.use_bias !== false) params.push({ coef: outCoef, factors: outFactor });
  // Output positions: everything but the channel axis (H·W for conv; leading axes for Dense on N-D input).
  const shape = layer.outputShape;
  const positions = shape && shape.every((d) => d !== null) ? sizeOf(shape.slice(0, -1) as number[]) : 1;
  return { params, macs: [{ coef: kernelTerm.coef * positions, factors: kernelTerm.factors }] };
}
