#!/usr/bin/env node
/**
 * Micro-benchmark of the MAX_JSON_DEPTH check every client frame and emit-api body passes:
 * the text scan the gateway runs before JSON.parse, against JSON.parse itself, on 64 KB frames
 * (MAX_FRAME_BYTES) and a typical small one. Run after `pnpm build`: `node bench/json-depth.mjs`.
 */
import { jsonTextTooDeep, pathTooDeep } from '@signal/core';

const rpc = (params) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'signal.publish', params });
const candidate = 'a=candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host generation 0\r\n';
const frames = [
  ['small offer (typical)', rpc({ id: 'room', event: 'offer', sdp: `v=0\r\n${candidate.repeat(3)}` })],
  ['64 KB: one long string (SDP)', rpc({ id: 'room', event: 'offer', sdp: candidate.repeat(900).slice(0, 65_000) })],
  ['64 KB: 1,400 small objects', rpc({ id: 'room', items: Array.from({ length: 1400 }, (_, n) => ({ n, tags: ['a', 'b'], p: { x: 1.5, y: -2 } })) })],
  ['64 KB: 32,000 numbers', rpc({ id: 'room', v: Array.from({ length: 32_000 }, (_, i) => i % 10) })],
];

function microseconds(run, iterations) {
  for (let i = 0; i < Math.min(2000, iterations); i++) run();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) run();
  return Number(process.hrtime.bigint() - started) / 1e3 / iterations;
}

console.log('| frame | bytes | depth scan (µs) | JSON.parse (µs) | scan / parse | value walk (µs) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [name, text] of frames) {
  const iterations = text.length < 1000 ? 200_000 : 5_000;
  const scan = microseconds(() => jsonTextTooDeep(text, 32), iterations);
  const parse = microseconds(() => JSON.parse(text), iterations);
  const value = JSON.parse(text);
  const walk = microseconds(() => pathTooDeep(value, 32), iterations);
  console.log(`| ${name} | ${Buffer.byteLength(text)} | ${scan.toFixed(2)} | ${parse.toFixed(2)} | ${((scan / parse) * 100).toFixed(0)} % | ${walk.toFixed(2)} |`);
}
