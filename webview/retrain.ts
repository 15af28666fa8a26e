/**
 * Condense–retrain cycles in the panel: a button that asks the host to start a run, Pause/Resume
 * and Cancel while it runs, the loss per epoch (training and validation, one line per round, round
 * boundaries marked) and a table of the finished rounds with a Write button each. The host sends
 * the whole run (RetrainView) on every change; this view only draws it and posts the buttons' messages.
 * SVG, like the size–error curve: theme colours through CSS, and text that tests and screen readers can read.
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button';
import type { RetrainView, WebviewToHost } from '../src/shared/protocol';
import { button, h, icon, replace, svg } from './dom';
import { changeText, formatGamma, int, metricText, percent } from './format';
import type { RetrainRound } from '../src/core/reduction/report';
import { AUTO, retrainChoices } from '../src/shared/retrainSettings';

const WIDTH = 420, HEIGHT = 170;
const LEFT = 58, RIGHT = 12, TOP = 12, BOTTOM = 30;

const fileName = (file: string): string => file.split(/[\\/]/).pop() ?? file;

/** How a round's training went, for its validation cell's tooltip: epochs run, the one kept, the rate at the end. */
function trainingNote(r: RetrainRound): string | undefined {
  if (r.epochsRun === undefined) return undefined;
  const kept = r.bestEpoch ? `epoch ${r.bestEpoch} kept (best on validation)` : 'no epoch improved on the condensed model';
  return `${r.epochsRun} epoch${r.epochsRun === 1 ? '' : 's'} trained, ${kept}${r.learningRate === undefined ? '' : `; learning rate ${r.learningRate} at the end`}`;
}

export class RetrainCard {
  readonly element: HTMLElement;
  private readonly start: VscodeButton;
  private readonly pause: VscodeButton;
  private readonly resume: VscodeButton;
  private readonly cancel: VscodeButton;
  private readonly status = h('p', { class: 'retrain-status', attrs: { role: 'status', 'aria-live': 'polite' } });
  private readonly plan = h('p', { class: 'muted retrain-plan' });
  /** What the run chose and why (the learning rate's range test, how the thresholds are cut, calibration, trainer). */
  private readonly choices = h('p', { class: 'muted retrain-choices' });
  private readonly plot = svg('svg', { class: 'retrain-plot', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img' });
  private readonly figure: HTMLElement;
  private readonly rounds = h('tbody');
  private readonly table: HTMLElement;
  private view: RetrainView | null = null;
  private enabled = false;

  constructor(private readonly send: (message: WebviewToHost) => void) {
    this.start = button('Condense and Retrain…', 'debug-restart', true, () => send({ type: 'retrain' }));
    this.start.title = 'Fine-tune the condensed model on training data and condense again, round after round (asks for the data files)';
    this.pause = button('Pause', 'debug-pause', true, () => send({ type: 'retrainControl', action: 'pause' }));
    this.pause.title = 'Hold training after the current batch';
    this.resume = button('Resume', 'debug-continue', true, () => send({ type: 'retrainControl', action: 'resume' }));
    this.cancel = button('Cancel', 'debug-stop', true, () => send({ type: 'retrainControl', action: 'cancel' }));
    this.cancel.title = 'Stop after the current batch; finished rounds stay writable';
    this.plot.setAttribute('aria-label', 'Loss per epoch: training and validation, rounds marked');
    this.figure = h(
      'figure',
      { class: 'chart retrain-figure' },
      h('figcaption', {}, 'Loss per epoch ', h('span', { class: 'legend-train' }, '— training'), ' ', h('span', { class: 'legend-val' }, '- - validation')),
      this.plot,
    );
    this.table = h(
      'table',
      { class: 'retrain-rounds' },
      h('thead', {}, h('tr', {}, ...['Round', 'Parameters', 'Validation', 'Change vs original', 'Within tolerance', ''].map((t) => h('th', { attrs: { scope: 'col' } }, t)))),
      this.rounds,
    );
    this.element = h(
      'section',
      { class: 'card retrain', attrs: { 'aria-label': 'Condense and retrain' } },
      h('div', { class: 'auto-head' }, h('h2', {}, 'Condense and retrain'), h('div', { class: 'retrain-actions' }, this.start, this.pause, this.resume, this.cancel)),
      this.status,
      this.plan,
      this.choices,
      this.figure,
      this.table,
    );
    this.show(null);
  }

  /** Starting a run and writing need an analysis and an idle host (the buttons of a running run do not). */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.render();
  }

  show(view: RetrainView | null): void {
    this.view = view;
    this.render();
  }

  private get running(): boolean {
    const s = this.view?.status;
    return s === 'starting' || s === 'running' || s === 'paused';
  }

  private render(): void {
    const view = this.view;
    this.start.disabled = !this.enabled || this.running;
    this.pause.hidden = view?.status !== 'running';
    this.resume.hidden = view?.status !== 'paused';
    this.cancel.hidden = !this.running;
    replace(this.status, this.statusText());
    const rounds = view?.summary?.rounds ?? [];
    this.figure.hidden = !view || view.epochs.length === 0;
    this.table.hidden = rounds.length === 0;
    this.plan.hidden = !view;
    const choices = view?.summary ? retrainChoices(view.summary) : [];
    if (view?.summary?.trainer) choices.push(`Trained by ${view.summary.trainer}.`);
    this.choices.hidden = choices.length === 0;
    replace(this.choices, choices.join(' '));
    if (!view) return;
    const p = view.plan;
    const original = view.summary ? ` · original ${this.metricText(view.summary.baseline)}` : '';
    const gamma = p.threshold === AUTO ? 'γ cut each round from the clustering trees' : `γ ${formatGamma(p.threshold)}`;
    const learningRate = p.learningRate === AUTO ? 'learning rate by a range test' : `learning rate ${p.learningRate}`;
    // The run reports the batch size it chose when it starts (its summary); until then, how it will choose.
    const chosenBatch = view.summary?.batchSize;
    const batch = p.batchSize !== AUTO ? `batch ${p.batchSize}` : chosenBatch === undefined ? 'batch size chosen from the data' : `batch ${chosenBatch} (chosen from the data)`;
    replace(
      this.plan,
      `${gamma} · tolerance ${p.tolerance} · ${p.epochs} epochs × ≤ ${p.rounds} rounds · ${learningRate} · ${batch} · `,
      `${p.merge === 'refit' ? 'refit on calibration data' : 'plain merge'} · training ${fileName(p.trainInputs)}, validation ${fileName(p.valInputs)}${original}`,
    );
    this.drawLoss(view);
    replace(this.rounds, ...rounds.map((r) => this.row(view, r)));
  }

  private statusText(): string {
    const view = this.view;
    if (!view) return 'Fine-tune the condensed model on training data, then condense it again, round after round, while the validation error stays within a tolerance (every format).';
    const last = view.epochs[view.epochs.length - 1];
    const at = last ? `round ${last.round}, epoch ${last.epoch} of ${view.plan.epochs}` : 'the first round';
    const finished = view.summary?.rounds.length ?? 0;
    const rounds = `${finished} finished round${finished === 1 ? '' : 's'}`;
    if (view.lost && finished) {
      return `${this.outcomeText(view, at, rounds, finished)} The worker that kept the rounds' models stopped unexpectedly, so they can no longer be written: start the run again.`;
    }
    return this.outcomeText(view, at, rounds, finished);
  }

  /** What the run's status says; "can still be written" only while the rounds' models are kept. */
  private outcomeText(view: RetrainView, at: string, rounds: string, finished: number): string {
    const kept = !view.lost;
    switch (view.status) {
      case 'starting':
        return 'Starting: reading the data and measuring the original model…';
      case 'running':
        return `Training: ${at} (${rounds}).`;
      case 'paused':
        return `Paused after ${at} (${rounds}).${kept ? ' Resume to go on; finished rounds can be written now.' : ''}`;
      case 'cancelled':
        return finished ? `Cancelled after ${rounds}${kept ? `; ${finished === 1 ? 'it' : 'they'} can still be written` : ''}.` : 'Cancelled before a round finished.';
      case 'failed':
        return `Retraining failed: ${view.error ?? 'unknown error'}${finished && kept ? ` The ${rounds} can still be written.` : ''}`;
      case 'completed': {
        const best = view.summary?.rounds.find((r) => r.round === view.summary!.chosen);
        const done = `Finished ${finished} round${finished === 1 ? '' : 's'}`;
        // What the run chose and why it stopped, as the CLI prints them.
        const lr = view.summary?.learningRate;
        const chose = `${view.summary?.stopped ? ` Stopped: ${view.summary.stopped}.` : ''}${lr ? ` Learning rate ${lr.value} (${lr.chosenBy}).` : ''}`;
        return best
          ? `${done}: round ${best.round} is the smallest within the tolerance (${percent(best.paramsRatio)} of the parameters).${chose}`
          : `${done}: none stayed within the tolerance.${chose}`;
      }
    }
  }

  private metricText(value: number): string {
    return metricText(this.view?.summary?.metric ?? 'mse', value);
  }

  private row(view: RetrainView, r: RetrainRound): HTMLTableRowElement {
    const chosen = view.summary?.chosen === r.round;
    const written = view.written.filter((w) => w.round === r.round);
    const note = trainingNote(r);
    const write = button('Write', 'save', !chosen, () => this.send({ type: 'retrainWrite', round: r.round }));
    write.setAttribute('aria-label', `Write round ${r.round}`);
    write.title = `Write round ${r.round}'s model next to the original`;
    write.disabled = !this.enabled || view.lost === true;
    return h(
      'tr',
      { class: `retrain-round${chosen ? ' chosen' : ''}`, attrs: { 'data-round': String(r.round) } },
      h(
        'td',
        {},
        String(r.round),
        chosen ? h('span', { class: 'muted' }, ' (smallest within)') : null,
        r.threshold === undefined ? null : h('span', { class: 'muted round-gamma', attrs: { title: view.plan.threshold === AUTO ? 'cut from the clustering trees (see above)' : 'given by condense.retrain.threshold' } }, ` · γ ${formatGamma(r.threshold)}`),
      ),
      h('td', { class: 'num' }, `${percent(r.paramsRatio)} (${int(r.params)})`),
      h('td', { class: 'num', attrs: note ? { title: note } : {} }, this.metricText(r.metric)),
      h('td', { class: 'num' }, changeText(view.summary?.metric ?? 'mse', r.change)),
      h('td', { class: r.meets ? 'meets' : 'fails' }, icon(r.meets ? 'pass' : 'error'), r.meets ? ' yes' : ' no'),
      h('td', {}, write, ...written.map((w) => h('span', { class: 'muted written', attrs: { title: w.outDir } }, ' written'))),
    );
  }

  /**
   * Training and validation loss against the epoch count over all rounds (the axis spans the plan, so
   * it does not rescale as epochs arrive); one line per round, since each round starts from a freshly
   * condensed model; dashed marks where a round begins. Log scale when every loss is positive.
   */
  private drawLoss(view: RetrainView): void {
    const epochs = view.epochs;
    if (epochs.length === 0) {
      replace(this.plot);
      return;
    }
    const values = epochs.flatMap((e) => [e.loss, e.valLoss ?? NaN]).filter(Number.isFinite);
    const log = values.every((v) => v > 0);
    const t = (v: number): number => (log ? Math.log10(v) : v);
    // A loop, not Math.min(...values): a long run has more values than a call takes arguments.
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      lo = Math.min(lo, t(v));
      hi = Math.max(hi, t(v));
    }
    const pad = (hi - lo) * 0.08 || 0.5;
    lo -= pad;
    hi += pad;
    const total = Math.max(epochs.length, view.plan.epochs * view.plan.rounds);
    const plotW = WIDTH - LEFT - RIGHT, plotH = HEIGHT - TOP - BOTTOM;
    const x = (i: number): number => LEFT + (total > 1 ? (i / (total - 1)) * plotW : plotW / 2);
    const y = (v: number): number => TOP + (1 - (t(v) - lo) / (hi - lo)) * plotH;
    const label = (v: number): string => (log ? (10 ** v).toPrecision(2) : v.toPrecision(2));

    const axes = svg('g', { class: 'retrain-axes', 'aria-hidden': 'true' });
    axes.append(
      svg('line', { x1: LEFT, y1: TOP + plotH, x2: LEFT + plotW, y2: TOP + plotH }),
      svg('line', { x1: LEFT, y1: TOP, x2: LEFT, y2: TOP + plotH }),
      svg('text', { x: LEFT - 4, y: TOP + 4, 'text-anchor': 'end' }, label(hi)),
      svg('text', { x: LEFT - 4, y: TOP + plotH, 'text-anchor': 'end' }, label(lo)),
      svg('text', { x: LEFT + plotW / 2, y: HEIGHT - 4, 'text-anchor': 'middle' }, `epoch (of ${total})${log ? ' · log scale' : ''}`),
    );
    const marks = svg('g', { class: 'round-marks' });
    const lines = svg('g', { class: 'loss-lines' });
    const rounds = [...new Set(epochs.map((e) => e.round))];
    for (const round of rounds) {
      const indices = epochs.map((e, i) => (e.round === round ? i : -1)).filter((i) => i >= 0);
      const first = indices[0];
      if (first > 0) {
        const mx = (x(first - 1) + x(first)) / 2;
        marks.append(svg('line', { class: 'round-mark', x1: mx, y1: TOP, x2: mx, y2: TOP + plotH }), svg('text', { x: mx + 3, y: TOP + 9 }, `round ${round}`));
      }
      for (const [series, value] of [['train', (i: number) => epochs[i].loss], ['val', (i: number) => epochs[i].valLoss]] as const) {
        const points = indices.filter((i) => Number.isFinite(value(i) ?? NaN)).map((i) => [x(i), y(value(i)!)] as const);
        if (points.length === 0) continue;
        lines.append(svg('polyline', { class: `loss loss-${series}`, 'data-round': round, points: points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ') }));
        // Markers too: a round of one epoch is a single point, which a line alone would not show.
        for (const [px, py] of points) lines.append(svg('circle', { class: `loss-point loss-${series}`, cx: px.toFixed(1), cy: py.toFixed(1), r: 2.2 }));
      }
    }
    const last = epochs[epochs.length - 1];
    const val = last.valLoss === undefined ? '' : `, validation ${last.valLoss.toPrecision(3)}`;
    this.plot.setAttribute('aria-label', `Loss per epoch over ${rounds.length} round${rounds.length === 1 ? '' : 's'}; last: training ${last.loss.toPrecision(3)}${val}`);
    replace(this.plot, axes, marks, lines);
  }
}
