/** The page's element with this id, of the expected kind; a missing one is a mistake in the page, said at once. */
export function byId<T extends HTMLElement>(id: string, kind: { new (): T; prototype: T }): T {
  const element = document.getElementById(id);
  if (!(element instanceof kind)) throw new Error(`the page has no ${kind.name} #${id}`);
  return element;
}

type Child = Node | string;

/** A new element with attributes and children; text is always set as text, never parsed as HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** A clock time for logs and tables, in the viewer's time zone. */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** Appends an item to a list, keeping at most `max` (the oldest go), and scrolls it into view. */
export function appendBounded(list: HTMLElement, item: HTMLElement, max = 200): void {
  list.append(item);
  while (list.children.length > max) list.firstElementChild?.remove();
  item.scrollIntoView({ block: 'nearest' });
}
