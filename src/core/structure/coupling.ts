/**
 * Producers whose channels are tied are reduced together instead of being skipped:
 *
 *  - the inputs of a residual Add have their channels identified one to one, so every producer
 *    feeding it (through per-channel layers and earlier Adds) joins one group: the group shares one
 *    clustering, on the concatenation of its members' (folded) vectors, and is merged jointly — each
 *    member keeps the same channels, and the layers reading the Add (or any member) get their input
 *    rows combined once;
 *  - a DepthwiseConv2D with depth multiplier 1 after them filters each channel on its own: it follows
 *    the channels (kept and merged with them), its own filter joining the similarity vector.
 *
 * A group is refused as a whole when one of the Add's sources cannot be reduced (the model input, a
 * layer the engine does not analyse, a producer refused for its own reason), each member saying why.
 */
import { compose } from './activations';
import { LayerNode, ModelGraph } from '../model/graph';
import { ChannelLayer, ConsumerLink, ProducerInfo, ProducerWalk } from './walk';
import { isCondensable, isInput, layerKind, passesChannels } from './layerKinds';

export function joinCoupled(graph: ModelGraph, walks: ProducerWalk[]): ProducerInfo[] {
  const joined = new Map<string, ProducerInfo>();
  for (const group of groupsByAdd(graph, walks)) {
    for (const info of joinGroup(group.walks, group.adds, group.blockers)) joined.set(info.layer.name, info);
  }
  return walks.map((w) => joined.get(w.info.layer.name)!);
}

interface Group {
  /** In topological order. */
  walks: ProducerWalk[];
  adds: LayerNode[];
  /** Sources of the Adds that are no producer, by Add. */
  blockers: { add: LayerNode; source: LayerNode }[];
}

/** Connected components of producers and the Adds their channels meet in (a producer on its own when it meets none). */
function groupsByAdd(graph: ModelGraph, walks: ProducerWalk[]): Group[] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== undefined && parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  const union = (a: string, b: string): void => {
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent.set(rb, ra);
  };
  const addKey = (add: LayerNode): string => `\0${add.name}`;
  const adds = new Map<string, LayerNode>();
  const blockers: Group['blockers'] = [];
  for (const w of walks) {
    find(w.info.layer.name);
    for (const add of w.adds) {
      union(w.info.layer.name, addKey(add));
      if (adds.has(add.name)) continue;
      adds.set(add.name, add);
      // Every source of the Add joins, also one whose own walk stopped before reaching it.
      const sources = addSources(graph, add);
      for (const p of sources.producers) union(addKey(add), p);
      for (const source of sources.blockers) blockers.push({ add, source });
    }
  }
  const groups = new Map<string, Group>();
  const groupOf = (key: string): Group => {
    const root = find(key);
    if (!groups.has(root)) groups.set(root, { walks: [], adds: [], blockers: [] });
    return groups.get(root)!;
  };
  for (const w of walks) groupOf(w.info.layer.name).walks.push(w);
  for (const add of adds.values()) groupOf(addKey(add)).adds.push(add);
  for (const b of blockers) groupOf(addKey(b.add)).blockers.push(b);
  return [...groups.values()];
}

/** What an Add's inputs carry, traced back through per-channel layers and earlier Adds. */
function addSources(graph: ModelGraph, add: LayerNode): { producers: string[]; blockers: LayerNode[] } {
  const producers = new Set<string>();
  const blockers = new Set<LayerNode>();
  const visit = (name: string): void => {
    const node = graph.byName.get(name)!;
    if (isCondensable(node)) producers.add(name);
    else if (layerKind(node.className)?.channels === 'add') node.inbound.forEach(visit);
    else if (passesChannels(node) && node.inbound.length === 1) visit(node.inbound[0]);
    else blockers.add(node);
  };
  add.inbound.forEach(visit);
  return { producers: [...producers], blockers: [...blockers] };
}

function describe(layer: LayerNode): string {
  return isInput(layer) ? `the model input ${layer.name}` : `${layer.className} ${layer.name}`;
}

function joinGroup(walks: ProducerWalk[], adds: LayerNode[], blockers: Group['blockers']): ProducerInfo[] {
  const followers = new Map<string, ChannelLayer>();
  for (const w of walks) for (const f of w.followers) if (!followers.has(f.layer.name)) followers.set(f.layer.name, f);
  if (walks.length === 1 && blockers.length === 0 && (followers.size === 0 || walks[0].info.reason !== null)) return [walks[0].info];

  const problem = groupProblem(walks, adds, blockers, [...followers.keys()]);
  if (problem) return walks.map((w) => (w.info.reason !== null ? w.info : { ...w.info, consumers: [], reason: problem }));

  const consumers = new Map<string, ConsumerLink>();
  const activations = new Map(walks.flatMap((w) => [...w.activations]));
  for (const w of walks) for (const c of w.info.consumers) consumers.set(`${c.layer.name}:${c.slice?.offset ?? -1}`, c);
  const names = walks.map((w) => w.info.layer.name);
  const members = walks.map((w) => ({ layer: w.info.layer, batchNorm: w.info.batchNorm }));
  const activation = compose([...activations.values()]);
  return walks.map((w) => {
    const others = names.filter((n) => n !== w.info.layer.name);
    const notes = [
      ...(others.length ? [`reduced jointly with ${others.join(', ')} (residual ${adds.map((a) => `Add ${a.name}`).join(', ')})`] : []),
      ...[...followers.keys()].map((f) => `DepthwiseConv2D ${f} follows its channels`),
    ];
    return {
      ...w.info,
      activation,
      consumers: [...consumers.values()],
      joint: { lead: names[0], members, followers: [...followers.values()], note: notes.join('; ') },
    };
  });
}

/** Why a group cannot be reduced, or null. */
function groupProblem(walks: ProducerWalk[], adds: LayerNode[], blockers: Group['blockers'], followers: string[]): string | null {
  if (blockers.length) {
    const { add, source } = blockers[0];
    return `coupled through Add (${add.name}) with ${describe(source)}, which cannot be reduced`;
  }
  const refused = walks.find((w) => w.info.reason !== null);
  if (refused) return `coupled through Add (${adds[0].name}) with ${refused.info.layer.name}, which is not reducible: ${refused.info.reason}`;
  // One merge scale serves every consumer only when every path to it, from every member, passes every
  // follower (a follower before an Add that another member or path bypasses fails this too).
  for (const w of walks) {
    for (let i = 0; i < w.info.consumers.length; i++) {
      const missing = followers.filter((f) => !w.through[i].includes(f));
      if (missing.length) return `the channels of ${w.info.layer.name} reach ${w.info.consumers[i].layer.name} without passing DepthwiseConv2D ${missing.join(', ')}`;
    }
  }
  return null;
}
