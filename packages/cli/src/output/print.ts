/**
 * Output goes to stdout, one result per command (or one line per event for `tail`); errors and
 * hints go to stderr so `--json` output stays parseable. No colour: the same bytes whether or
 * not stdout is a terminal.
 */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printLines(...lines: string[]): void {
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
}

/** Rows as columns padded to their widest cell, the header first. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  printLines(line(header), ...rows.map(line));
}
