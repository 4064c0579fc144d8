/**
 * Output goes to stdout, one result per command (or one line per event for `tail`); errors and
 * hints go to stderr so `--json` output stays parseable. No colour: the same bytes whether or
 * not stdout is a terminal.
 */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Human-readable lines; control characters (which could drive the terminal) are shown as \uXXXX. */
export function printLines(...lines: string[]): void {
  process.stdout.write(lines.map((l) => `${visible(l)}\n`).join(''));
}

/**
 * What others wrote (messages, states, addresses) reaches the terminal here. JSON escapes C0
 * controls but not DEL nor the C1 range (U+0080-U+009F, where CSI lives), so those are escaped too.
 */
export function visible(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, '0')}` : ch;
  }
  return out;
}

/** Rows as columns padded to their widest cell, the header first. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  printLines(line(header), ...rows.map(line));
}
