import { parser } from '@prometheus-io/lezer-promql';

/**
 * Checks PromQL written for dashboards and alerts against what the services really export.
 * Parsing uses Prometheus' own grammar (@prometheus-io/lezer-promql, the one its web UI uses),
 * so a metric name is told apart from a function, a label or a keyword the way Prometheus
 * tells them apart, not by a pattern that a `by (…)` or an `offset` could fool.
 */

/** What one scrape of /metrics says: series name → family, type and the label names seen on it. */
export interface Exported {
  series: Map<string, { family: string; type: string; labels: Set<string>; services: Set<string> }>;
}

/** Labels Prometheus adds to every series from a ServiceMonitor target (besides the metric's own). */
export const TARGET_LABELS = new Set(['namespace', 'service', 'pod', 'job', 'instance', 'container', 'endpoint']);

/** Series names a family of each type prints: a histogram's `_bucket`, `_sum`, `_count`, etc. */
function seriesOf(family: string, type: string): string[] {
  if (type === 'histogram') return [`${family}_bucket`, `${family}_sum`, `${family}_count`];
  if (type === 'summary') return [family, `${family}_sum`, `${family}_count`];
  return [family];
}

export function emptyExported(): Exported {
  // `up` is written by Prometheus for each target: only target labels.
  return { series: new Map([['up', { family: 'up', type: 'gauge', labels: new Set<string>(), services: new Set(['prometheus']) }]]) };
}

/** Adds one Prometheus text page (format 0.0.4) from `service` to `exported`. */
export function addScrape(exported: Exported, service: string, text: string): void {
  const lines = text.split('\n');
  for (const line of lines) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (!type) continue;
    const [, family, kind] = type as unknown as [string, string, string];
    for (const name of seriesOf(family, kind)) {
      const entry = exported.series.get(name) ?? { family, type: kind, labels: new Set<string>(), services: new Set<string>() };
      entry.services.add(service);
      exported.series.set(name, entry);
    }
  }
  for (const line of lines) {
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? /.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample line: ${line}`);
    const entry = exported.series.get(sample[1]!);
    if (!entry) throw new Error(`sample of a metric with no # TYPE line: ${line}`);
    for (const [, label] of (sample[2] ?? '').matchAll(/([a-zA-Z_]\w*)="(?:[^"\\]|\\.)*"/g)) entry.labels.add(label!);
  }
}

/** Grafana's interval variables stand where PromQL wants a duration; a fixed one parses the same way. */
function withoutGrafanaIntervals(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m');
}

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

function childrenNamed(node: SyntaxNode, name: string): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) if (child.name === name) found.push(child);
  return found;
}

function descendants(node: SyntaxNode, name: string): SyntaxNode[] {
  const found: SyntaxNode[] = [];
  const cursor = node.cursor();
  const walk = (): void => {
    do {
      if (cursor.name === name) found.push(cursor.node);
      if (cursor.firstChild()) {
        walk();
        cursor.parent();
      }
    } while (cursor.nextSibling());
  };
  if (cursor.firstChild()) walk();
  return found;
}

export interface Selector {
  metric: string;
  /** Label names in its matchers. */
  labels: string[];
}

/** The metric selectors of an expression; problems for a syntax error or a selector with no metric name. */
export function selectorsOf(expr: string): { selectors: Selector[]; problems: string[]; tree: SyntaxNode; text: string } {
  const text = withoutGrafanaIntervals(expr);
  const tree = parser.parse(text).topNode;
  const problems: string[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) {
      problems.push(`does not parse at character ${cursor.from}: …${text.slice(Math.max(0, cursor.from - 20), cursor.from + 20)}…`);
      break;
    }
  } while (cursor.next());
  const selectors: Selector[] = [];
  for (const node of descendants(tree, 'VectorSelector')) {
    const identifier = childrenNamed(node, 'Identifier')[0];
    const labels = descendants(node, 'LabelName').map((n) => text.slice(n.from, n.to));
    if (!identifier) {
      problems.push(`selector ${text.slice(node.from, node.to)} names no metric: write the metric's name, not {__name__=…}`);
      continue;
    }
    selectors.push({ metric: text.slice(identifier.from, identifier.to), labels });
  }
  return { selectors, problems, tree, text };
}

/**
 * Every problem with one expression: it does not parse, names a metric the services do not
 * export, or a label (in a selector, `by`/`without`, `on`/`ignoring`) that no metric in
 * its scope carries. Each message quotes the expression.
 */
export function checkExpression(expr: string, exported: Exported): string[] {
  const { selectors, problems, tree, text } = selectorsOf(expr);
  const labelsOf = (metric: string): Set<string> => {
    const entry = exported.series.get(metric);
    const labels = new Set([...TARGET_LABELS, ...(entry?.labels ?? [])]);
    if (entry?.type === 'histogram' && metric.endsWith('_bucket')) labels.add('le');
    return labels;
  };
  for (const { metric, labels } of selectors) {
    if (!exported.series.has(metric)) {
      problems.push(`names ${metric}, which neither service exports`);
      continue;
    }
    for (const label of labels) {
      if (label !== '__name__' && !labelsOf(metric).has(label)) problems.push(`selects ${metric} by label "${label}", which ${metric} does not carry`);
    }
  }
  // A grouping label must exist on some metric inside the aggregation or binary operation it groups.
  for (const grouping of descendants(tree, 'GroupingLabels')) {
    let scope = grouping.parent;
    while (scope && scope.name !== 'AggregateExpr' && scope.name !== 'BinaryExpr') scope = scope.parent;
    if (!scope) continue;
    const inScope = descendants(scope, 'VectorSelector')
      .map((n) => childrenNamed(n, 'Identifier')[0])
      .filter((n): n is SyntaxNode => n !== undefined)
      .map((n) => text.slice(n.from, n.to));
    for (const labelNode of childrenNamed(grouping, 'LabelName')) {
      const label = text.slice(labelNode.from, labelNode.to);
      if (!inScope.some((metric) => labelsOf(metric).has(label))) {
        problems.push(`groups by label "${label}", which none of ${inScope.join(', ') || '(no metric)'} carries`);
      }
    }
  }
  return problems.map((p) => `${expr}\n    → ${p}`);
}

/** Grafana's `label_values(selector, label)` variable query, checked as a selector and a label. */
export function checkLabelValuesQuery(query: string, exported: Exported): string[] {
  const match = /^label_values\((.*),\s*([a-zA-Z_]\w*)\)$/.exec(query.trim());
  if (!match) return [`${query}\n    → not a label_values(selector, label) query`];
  const [, selector, label] = match as unknown as [string, string, string];
  return checkExpression(`count by (${label}) (${selector})`, exported).map((p) => `${query} (as ${p})`);
}

/** `undefined`: every label of the series selected; `'scalar'`: a number, no labels. */
type Kept = Set<string> | undefined | 'scalar';

const SCALAR_NODES = new Set(['NumberDurationLiteral', 'StringLiteral']);
const intersect = (a: Set<string>, b: Set<string>) => new Set([...a].filter((l) => b.has(l)));

/** The labels an expression's result series carry, following how PromQL builds them. */
function keptBy(node: SyntaxNode, text: string): Kept {
  const exprChildren = (parent: SyntaxNode) => {
    const found: SyntaxNode[] = [];
    for (let c = parent.firstChild; c; c = c.nextSibling) if (/Expr$|Selector$|Literal$|^FunctionCall$/.test(c.name)) found.push(c);
    return found;
  };
  switch (node.name) {
    case 'PromQL':
    case 'ParenExpr':
    case 'UnaryExpr':
      return keptBy(exprChildren(node)[0]!, text);
    case 'NumberDurationLiteral':
    case 'StringLiteral':
      return 'scalar';
    case 'BinaryExpr': {
      const [left, right] = exprChildren(node) as [SyntaxNode, SyntaxNode];
      const [l, r] = [keptBy(left, text), keptBy(right, text)];
      if (l === 'scalar') return r;
      if (r === 'scalar' || childrenNamed(node, 'And').length > 0 || childrenNamed(node, 'Unless').length > 0) return l;
      // `or`: a result series comes from either side, so only labels both sides keep are sure.
      if (childrenNamed(node, 'Or').length > 0) return l === undefined ? r : r === undefined ? l : intersect(l, r);
      return l;
    }
    case 'AggregateExpr': {
      const op = text.slice(node.firstChild!.from, node.firstChild!.to);
      const body = childrenNamed(node, 'FunctionCallBody')[0]!;
      if (['topk', 'bottomk', 'limitk', 'limit_ratio'].includes(op)) return keptBy(exprChildren(body).at(-1)!, text);
      const modifier = childrenNamed(node, 'AggregateModifier')[0];
      if (!modifier) return new Set();
      if (childrenNamed(modifier, 'Without').length > 0) return undefined;
      const grouping = childrenNamed(modifier, 'GroupingLabels')[0]!;
      return new Set(childrenNamed(grouping, 'LabelName').map((n) => text.slice(n.from, n.to)));
    }
    case 'FunctionCall': {
      const name = text.slice(node.firstChild!.from, node.firstChild!.to);
      const args = exprChildren(childrenNamed(node, 'FunctionCallBody')[0]!);
      if (['vector', 'time', 'scalar', 'pi'].includes(name)) return 'scalar';
      const vectorArg = args.find((a) => !SCALAR_NODES.has(a.name));
      if (!vectorArg || name.startsWith('label_') || name === 'absent' || name === 'absent_over_time') return undefined;
      const kept = keptBy(vectorArg, text);
      if (name === 'histogram_quantile' && kept instanceof Set) kept.delete('le');
      return kept;
    }
    default:
      // Selectors, subqueries, offsets: every label of the series.
      return undefined;
  }
}

/**
 * Problems with the `$labels.x` an alert's annotations use: a label its expression aggregates
 * away, or one no metric in it carries, renders as an empty string in the notification.
 */
export function checkTemplateLabels(expr: string, used: string[], exported: Exported): string[] {
  const { tree, text, selectors } = selectorsOf(expr);
  const kept = keptBy(tree, text);
  const carried = new Set([...TARGET_LABELS, ...selectors.flatMap((s) => [...(exported.series.get(s.metric)?.labels ?? [])])]);
  const problems: string[] = [];
  for (const label of new Set(used)) {
    if (kept === 'scalar') problems.push(`uses $labels.${label}, but the expression is a number`);
    else if (kept !== undefined && !kept.has(label)) problems.push(`uses $labels.${label}, which the expression aggregates away (it keeps ${[...kept].join(', ') || 'no label'})`);
    else if (kept === undefined && !carried.has(label)) problems.push(`uses $labels.${label}, which no metric in the expression carries`);
  }
  return problems;
}
