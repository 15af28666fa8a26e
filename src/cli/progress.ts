/**
 * Progress on stderr, so that stdout holds the result alone (and `--json` stays parseable). On a
 * terminal one line redraws in place (phase, step n of m, elapsed, ETA); elsewhere (a log, a pipe)
 * each phase and each counted step is one plain line.
 */
import { printable } from './table';

export interface ProgressSink {
  write(text: string): void;
  /** True when stderr is a terminal: the line may redraw with a carriage return. */
  isTTY: boolean;
  /** The terminal's width (the line is cut to it). */
  columns?: number;
}

export class Progress {
  private readonly start: number;
  private phaseStart: number;
  private phase = '';
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink | null,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
    this.phaseStart = this.start;
  }

  /** A new phase ("analysing", "writing", …). */
  begin(phase: string): void {
    this.phase = phase;
    this.phaseStart = this.now();
    this.show(phase, true);
  }

  /**
   * Step `done` of `total` in the current phase; `what` names it (a layer, a candidate, an epoch).
   * `logged`: also a line of its own when stderr is not a terminal (candidates and epochs, not layers).
   */
  step(done: number, total: number, what = '', logged = true): void {
    const elapsed = this.now() - this.phaseStart;
    const eta = done > 0 && done < total ? ` ETA ${duration((elapsed / done) * (total - done))}` : '';
    this.show(`${this.phase}: ${done} of ${total}${what ? ` (${what})` : ''}, ${duration(this.now() - this.start)} elapsed${eta}`, logged);
  }

  /** Clears the redrawn line before the result is printed. */
  end(): void {
    if (this.sink?.isTTY && this.drawn) this.sink.write('\r\x1b[K');
    this.drawn = false;
  }

  private show(text: string, logged: boolean): void {
    if (!this.sink) return;
    const line = printable(text);
    if (this.sink.isTTY) {
      const width = Math.max(20, (this.sink.columns ?? 80) - 1);
      this.sink.write(`\r\x1b[K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
      this.drawn = true;
    } else if (logged) {
      this.sink.write(`${line}\n`);
    }
  }
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
