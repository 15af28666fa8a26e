/**
 * Progress, busy state and results from the host: analysis progress, "written", "verification" and
 * errors, shown between the header and the content. Kept as data too, for the test snapshot.
 */
import type { VscodeProgressBar } from '@vscode-elements/elements/dist/vscode-progress-bar/vscode-progress-bar';
import type { Fidelity } from '../src/core/verify';
import type { Timing } from '../src/core/reduction/report';
import { h, icon, replace } from './dom';
import { int, percent } from './format';
import { timingTable } from './speed';

export interface Progress {
  layer: string;
  done: number;
  total: number;
}

export interface Written {
  outDir: string;
  paramsBefore: number;
  paramsAfter: number;
}

export interface Verification {
  fidelity: Fidelity;
  reduced: string;
  tolerance: number;
  /** Max relative deviation within tolerance (the CLI's criterion). */
  pass: boolean;
  /** How the verified model was merged (its report), when known. */
  merge?: 'refit' | 'plain';
  /** Both models' measured latency, with condense.verification.timing on. */
  timing?: Timing;
  /** Rounding advice when the measured speed-up is below the multiply-add ratio (see speed.ts). */
  advice?: string;
}

const sci = (x: number): string => x.toExponential(2);

export class Status {
  readonly element = h('div', { class: 'status' });
  private readonly progressBox = h('div', { class: 'progress', attrs: { role: 'status' } });
  private readonly busyBox = h('div', { class: 'busy', attrs: { role: 'status' } });
  private readonly errorBox = h('div', { class: 'message error', attrs: { role: 'alert' } });
  private readonly writtenBox = h('div', { class: 'message success', attrs: { role: 'status' } });
  private readonly verificationBox = h('div', { class: 'message verification', attrs: { role: 'status' } });

  progress: Progress | null = null;
  busy: string | null = null;
  error: string | null = null;
  written: Written | null = null;
  verification: Verification | null = null;

  constructor() {
    this.element.append(this.progressBox, this.busyBox, this.errorBox, this.writtenBox, this.verificationBox);
    this.render();
  }

  setProgress(progress: Progress | null): void {
    this.progress = progress;
    this.render();
  }

  setBusy(what: string | null): void {
    this.busy = what;
    // A new action makes the last error stale.
    if (what !== null) this.error = null;
    this.render();
  }

  setError(message: string | null): void {
    this.error = message;
    this.render();
  }

  setWritten(written: Written | null): void {
    this.written = written;
    // A new reduced model has not been verified yet.
    this.verification = null;
    this.render();
  }

  setVerification(fidelity: Fidelity, reduced: string, tolerance: number, merge?: 'refit' | 'plain', timing?: Timing): void {
    this.verification = { fidelity, reduced, tolerance, pass: fidelity.maxRel <= tolerance, ...(merge ? { merge } : {}), ...(timing ? { timing } : {}) };
    this.render();
  }

  /** Shown under the timing; null removes it (the setting or the thresholds changed). */
  setAdvice(advice: string | null): void {
    const v = this.verification;
    if (!v || (v.advice ?? null) === advice) return;
    if (advice === null) delete v.advice;
    else v.advice = advice;
    this.render();
  }

  private render(): void {
    this.renderProgress();
    this.busyBox.hidden = this.busy === null;
    if (this.busy !== null) replace(this.busyBox, progressBar(null, 'Working'), h('p', {}, icon('loading', 'codicon-modifier-spin'), ` ${this.busy}`));
    this.renderError();
    this.writtenBox.hidden = this.written === null;
    if (this.written) {
      const w = this.written;
      replace(
        this.writtenBox,
        icon('pass'),
        h('div', {},
          h('p', {}, h('strong', {}, 'Reduced model written'), ` to `, h('code', {}, w.outDir)),
          h('p', { class: 'muted' }, `${int(w.paramsAfter)} of ${int(w.paramsBefore)} parameters (${percent(w.paramsBefore ? w.paramsAfter / w.paramsBefore : 1)}).`),
        ),
      );
    }
    this.renderVerification();
  }

  private renderProgress(): void {
    const p = this.progress;
    this.progressBox.hidden = p === null;
    if (!p) return;
    const text = p.layer ? `Analysing layer ${p.layer} (${p.done + 1} of ${p.total})` : `Analysed ${p.total} layers`;
    replace(this.progressBox, progressBar(p.total ? p.done / p.total : null, 'Analysis progress'), h('p', {}, text));
  }

  private renderError(): void {
    this.errorBox.hidden = this.error === null;
    if (this.error === null) return;
    const dismiss = h('button', { class: 'icon-button', attrs: { 'aria-label': 'Dismiss the error', title: 'Dismiss' } }, icon('close'));
    dismiss.addEventListener('click', () => this.setError(null));
    replace(this.errorBox, icon('error'), h('p', { class: 'error-text' }, this.error), dismiss);
  }

  private renderVerification(): void {
    const v = this.verification;
    this.verificationBox.hidden = v === null;
    if (!v) return;
    const f = v.fidelity;
    this.verificationBox.classList.toggle('pass', v.pass);
    this.verificationBox.classList.toggle('fail', !v.pass);
    const rows: [string, string][] = [
      ['Max abs deviation', sci(f.maxAbs)],
      ['Mean abs deviation', sci(f.meanAbs)],
      ['Max rel deviation', sci(f.maxRel)],
      ['Mean rel deviation', sci(f.meanRel)],
    ];
    if (f.argmaxAgreement !== null) rows.push(['Argmax agreement', percent(f.argmaxAgreement)]);
    rows.push(['Inputs', `${int(f.samples)} samples: ${f.inputs}`]);
    if (v.merge) rows.push(['Merge', v.merge === 'refit' ? 'next layers refitted on the calibration data' : 'plain (summed output weights)']);
    replace(
      this.verificationBox,
      icon(v.pass ? 'pass' : 'error'),
      h('div', {},
        h('p', {},
          h('strong', {}, v.pass ? 'Verification passed' : 'Verification failed'),
          `: max relative deviation ${sci(f.maxRel)} ${v.pass ? '≤' : '>'} tolerance ${sci(v.tolerance)}`,
        ),
        h('dl', { class: 'metrics' }, ...rows.flatMap(([k, val]) => [h('dt', {}, k), h('dd', {}, val)])),
        v.timing ? timingTable(v.timing) : null,
        v.advice ? h('p', { class: 'advice' }, icon('lightbulb'), ` ${v.advice}`) : null,
        h('p', { class: 'muted' }, 'Reduced model: ', h('code', {}, v.reduced)),
      ),
    );
  }
}

/** Determinate when a fraction is known. */
function progressBar(fraction: number | null, label: string): VscodeProgressBar {
  const bar = document.createElement('vscode-progress-bar');
  bar.ariaLabel = label;
  if (fraction === null) bar.indeterminate = true;
  else {
    bar.max = 1;
    bar.value = fraction;
  }
  return bar;
}
