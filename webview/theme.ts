/**
 * Theme colours for canvas drawing. Canvas cannot use CSS variables, so each colour is resolved
 * through a hidden probe element (which also normalises any CSS colour syntax to rgb()), and the
 * palette is re-read whenever VS Code switches themes (it changes body classes and html styles).
 */
export type Rgba = [number, number, number, number];

export interface Palette {
  background: Rgba;
  foreground: Rgba;
  muted: Rgba;
  lines: Rgba;
  /** Positive similarity, bars at or above γ. */
  positive: Rgba;
  /** Negative similarity. */
  negative: Rgba;
  /** The γ marker and cluster outlines. */
  marker: Rgba;
  focus: Rgba;
  font: string;
}

const SOURCES: Record<Exclude<keyof Palette, 'font'>, string> = {
  background: 'var(--vscode-editor-background, #1f1f1f)',
  foreground: 'var(--vscode-charts-foreground, var(--vscode-foreground, #cccccc))',
  muted: 'var(--vscode-descriptionForeground, #9d9d9d)',
  lines: 'var(--vscode-charts-lines, rgba(128, 128, 128, 0.5))',
  positive: 'var(--vscode-charts-blue, #3794ff)',
  negative: 'var(--vscode-charts-orange, #d18616)',
  marker: 'var(--vscode-charts-red, #f14c4c)',
  focus: 'var(--vscode-focusBorder, #0078d4)',
};

function parse(color: string): Rgba {
  const parts = color.match(/[\d.]+/g)?.map(Number) ?? [];
  return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0, parts[3] ?? 1];
}

function readPalette(): Palette {
  const probe = document.createElement('span');
  probe.hidden = true;
  document.body.appendChild(probe);
  const resolve = (expr: string): Rgba => {
    probe.style.setProperty('color', expr);
    return parse(getComputedStyle(probe).color);
  };
  const colours = Object.fromEntries(Object.entries(SOURCES).map(([key, expr]) => [key, resolve(expr)])) as Omit<Palette, 'font'>;
  probe.remove();
  const style = getComputedStyle(document.body);
  return { ...colours, font: `11px ${style.fontFamily || 'sans-serif'}` };
}

export const css = ([r, g, b, a]: Rgba, alpha = 1): string => `rgba(${r}, ${g}, ${b}, ${a * alpha})`;

/** Linear blend from a to b (t in [0, 1]); alpha is taken as 1, for opaque cells. */
export function mix(a: Rgba, b: Rgba, t: number): [number, number, number] {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

let cached: Palette | null = null;

/** The current theme's palette, read once per theme. */
export function palette(): Palette {
  return (cached ??= readPalette());
}

/** Calls back on every theme switch, after the palette has been invalidated. */
export function onThemeChange(callback: () => void): void {
  const observer = new MutationObserver(() => {
    cached = null;
    callback();
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}
