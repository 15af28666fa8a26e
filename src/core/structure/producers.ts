/** Every Dense/Conv2D layer of a graph, walked to its consumers and joined with the layers its channels are tied to. */
import { ModelGraph } from '../model/graph';
import { joinCoupled } from './coupling';
import { isCondensable } from './layerKinds';
import { ProducerInfo, walkProducer } from './walk';

export function describeProducers(graph: ModelGraph): ProducerInfo[] {
  return joinCoupled(graph, graph.layers.filter(isCondensable).map((layer) => walkProducer(graph, layer)));
}
