/**
 * Element building without HTML strings: every string becomes a text node, so names read from a
 * model file (layer names in particular) can never be parsed as markup.
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button';

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  /** Attributes set with setAttribute (values are never parsed as HTML). */
  attrs?: Record<string, string>;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  for (const [name, value] of Object.entries(props.attrs ?? {})) el.setAttribute(name, value);
  append(el, ...children);
  return el;
}

function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's content. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A codicon (decorative: hidden from screen readers, the adjacent text carries the meaning). */
export function icon(name: string, extra = ''): HTMLSpanElement {
  return h('span', { class: `codicon codicon-${name}${extra ? ` ${extra}` : ''}`, attrs: { 'aria-hidden': 'true' } });
}

let nextId = 0;
/** A document-unique id for aria-controls / aria-describedby links. */
export function uid(prefix: string): string {
  return `${prefix}-${++nextId}`;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes and optional text (charts draw with these so theme colours apply through CSS). */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A vscode-button with a codicon and a label. */
export function button(label: string, codicon: string, secondary: boolean, onClick: () => void): VscodeButton {
  const b = document.createElement('vscode-button');
  b.secondary = secondary;
  b.append(icon(codicon), ` ${label}`);
  b.addEventListener('click', onClick);
  return b;
}
