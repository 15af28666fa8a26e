/** What the charts share: a canvas sized for the screen's pixel density, and legible labels on it. */
import { css, Palette } from '../theme';

/**
 * Sizes a canvas for crisp lines on high-DPI screens; returns a context in CSS pixels. A canvas
 * whose CSS width follows its container (fluid) keeps that width.
 */
export function prepare(canvas: HTMLCanvasElement, width: number, height: number, fluid = false): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  if (!fluid) canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** Text with a halo in the background colour, legible where it crosses a line or bar. */
export function haloText(ctx: CanvasRenderingContext2D, p: Palette, text: string, x: number, y: number): void {
  ctx.save();
  ctx.lineWidth = 3;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = css(p.background);
  ctx.strokeText(text, x, y);
  ctx.restore();
  ctx.fillText(text, x, y);
}
