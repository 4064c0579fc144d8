#!/usr/bin/env node
// Summarises a .cpuprofile: the functions with the most self time, and the most total time
// (self + callees), as shares of all samples. Usage: node bench/lib/profile-top.mjs FILE [N]
import { readFileSync } from 'node:fs';

const [file, many = '40'] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const hits = new Map();
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const total = profile.samples.length;
const nameOf = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${url.replace(/^.*\/(services|packages|node_modules)\//, '$1/')}:${lineNumber + 1}`;
};
const self = new Map();
const inclusive = new Map();
for (const [id, count] of hits) {
  const name = nameOf(nodes.get(id));
  self.set(name, (self.get(name) ?? 0) + count);
  // Each function counted once per sample, however deep it recurses.
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const n = nameOf(nodes.get(at));
    if (seen.has(n)) continue;
    seen.add(n);
    inclusive.set(n, (inclusive.get(n) ?? 0) + count);
  }
}
const show = (title, map) => {
  console.log(`${title} (${total} samples)`);
  for (const [name, count] of [...map].sort((a, b) => b[1] - a[1]).slice(0, Number(many))) {
    console.log(`${((count / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
};
show('self', self);
show('total', inclusive);
