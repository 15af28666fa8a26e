/**
 * The model's name and path, and the actions: write the reduced model, verify it, re-analyse; with
 * calibration data set, the "Refit on calibration data" toggle for this panel's writes.
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button';
import type { VscodeCheckbox } from '@vscode-elements/elements/dist/vscode-checkbox/vscode-checkbox';
import type { WebviewToHost } from '../src/shared/protocol';
import { button, h, icon, replace } from './dom';

export class Header {
  readonly element: HTMLElement;
  private readonly title = h('h1');
  private readonly path = h('p', { class: 'path' });
  private readonly meta = h('p', { class: 'meta' });
  private readonly write: VscodeButton;
  private readonly exportSource: VscodeButton;
  private readonly verify: VscodeButton;
  private readonly reanalyse: VscodeButton;
  private readonly refitToggle: VscodeCheckbox;

  /** `send` posts an action; the host answers with busy / written / verification / error. `onRefit`: the toggle changed. */
  constructor(send: (message: WebviewToHost) => void, onRefit: (enabled: boolean) => void) {
    this.write = button('Write Reduced Model', 'save', false, () => send({ type: 'write' }));
    this.write.title = 'Write the reduced model at the current thresholds next to the original';
    this.exportSource = button('Export as C / Fortran…', 'file-code', true, () => send({ type: 'export' }));
    this.exportSource.title = 'Write dependency-free C or Fortran source computing the model (Dense layers and element-wise activations), original or reduced';
    this.verify = button('Verify', 'beaker', true, () => send({ type: 'verify' }));
    this.verify.title = 'Compare the reduced model’s outputs with the original’s';
    this.reanalyse = button('Re-analyse', 'refresh', true, () => send({ type: 'reanalyze' }));
    this.reanalyse.title = 'Read the model file again and redo the analysis';
    this.refitToggle = document.createElement('vscode-checkbox');
    this.refitToggle.label = 'Refit on calibration data';
    this.refitToggle.title = 'Write (and retrain) with the next layers refitted by least squares on condense.calibration.file; off: the plain merge. For this panel only.';
    this.refitToggle.addEventListener('change', () => onRefit(this.refitToggle.checked));
    this.element = h(
      'header',
      { class: 'top' },
      h('div', { class: 'title' }, h('div', { class: 'title-line' }, icon('circuit-board'), this.title), this.path, this.meta),
      h('div', { class: 'actions', attrs: { role: 'toolbar', 'aria-label': 'Actions' } }, this.refitToggle, this.write, this.exportSource, this.verify, this.reanalyse),
    );
    this.setModel(null, null);
    this.setEnabled(false, false);
    this.setRefit(false, true);
  }

  /** Shown only while calibration data is set: without it there is nothing to refit on. */
  setRefit(available: boolean, enabled: boolean): void {
    this.refitToggle.hidden = !available;
    this.refitToggle.checked = enabled;
  }

  setModel(label: string | null, path: string | null, meta?: string): void {
    replace(this.title, label ?? 'Condense');
    replace(this.path, path ?? '');
    this.path.title = path ?? '';
    replace(this.meta, meta ?? '');
  }

  /** Writing and verifying need an analysis, re-analysing only a model; neither while the host is busy. */
  setEnabled(actions: boolean, reanalyse: boolean): void {
    this.write.disabled = !actions;
    this.exportSource.disabled = !actions;
    this.verify.disabled = !actions;
    this.reanalyse.disabled = !reanalyse;
  }
}
