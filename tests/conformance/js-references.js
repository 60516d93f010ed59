// Known answers for published source maps from two independent references: Mozilla's
// source-map (0.6, the synchronous one) and @jridgewell/trace-mapping.
//
//   node js-references.js <node_modules> <out.json> <name>=<minified>:<map> ...
//                                                   hermes:<name>=<bytecode>:<map> ...
//
// Positions per map (1-based line, 0-based column, as both libraries take them): every
// generated position of a mapping and the column after it, the first column of every line,
// random columns on random lines (some past the end of a line), and lines past the end of the
// file; at most 6,000, drawn with a fixed seed. For a Hermes bytecode map (hermesc's), the
// line is the bytecode segment plus one and the column a bytecode offset: every mapped offset,
// the one after it, and random offsets up to past the last. Each entry keeps both answers; the
// comparison (compare.py) uses the positions where they agree.
'use strict';
const fs = require('fs');
const path = require('path');

const [modules, out, ...sets] = process.argv.slice(2);
const {SourceMapConsumer} = require(path.join(modules, 'source-map'));
const tm = require(path.join(modules, '@jridgewell/trace-mapping'));

let seed = 0x5eed;
function rand(n) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

const result = [];
for (const spec of sets) {
  const hermes = spec.startsWith('hermes:');
  const [name, files] = spec.replace(/^hermes:/, '').split('=');
  const [minified, mapFile] = files.split(':');
  const raw = JSON.parse(fs.readFileSync(mapFile, 'utf8'));
  // Bytecode is no text: its "lines" are the map's segments, as long as their last offset.
  const lines = hermes
    ? tm.decodedMappings(new tm.TraceMap(raw)).map(segs => ' '.repeat(segs.length ? segs[segs.length - 1][0] + 1 : 0))
    : fs.readFileSync(minified, 'utf8').split(/\r?\n/);
  const mozilla = new SourceMapConsumer(raw);
  const jr = new tm.TraceMap(raw);
  const decoded = tm.decodedMappings(jr);
  const positions = new Map();
  const add = (line, column) => positions.set(`${line}:${column}`, [line, column]);
  decoded.forEach((segs, i) => {
    add(i + 1, 0);
    for (const s of segs) {
      add(i + 1, s[0]);
      add(i + 1, s[0] + 1);
    }
  });
  for (let k = 0; k < 500; k++) {
    const line = 1 + rand(lines.length);
    add(line, rand(Math.max(1, lines[line - 1].length + 20)));
  }
  add(lines.length + 1, 0);
  add(lines.length + 5, 3);
  let all = [...positions.values()];
  // A fixed-seed sample when there are too many.
  while (all.length > 6000) {
    all.splice(rand(all.length), 1);
  }
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const answer = p => (p && p.source != null ? {source: p.source, line: p.line, column: p.column, name: p.name || null} : null);
  result.push({
    kind: hermes ? 'hermes' : 'js',
    set: name,
    minified,
    map: mapFile,
    positions: all.map(([line, column]) => ({
      line,
      column,
      mozilla: answer(mozilla.originalPositionFor({line, column, bias: SourceMapConsumer.GREATEST_LOWER_BOUND})),
      trace_mapping: answer(tm.originalPositionFor(jr, {line, column})),
    })),
  });
}
fs.writeFileSync(out, JSON.stringify(result));
