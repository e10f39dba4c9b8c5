// SPDX-License-Identifier: MIT
// A second pprof reader for the suite: decodes each profile named on stdin (one path a line)
// with the npm package pprof-format, which shares no code with ldprof nor with the suite's own
// Python decoder, and prints one JSON line per file with what both can be compared on: the
// sample and value types, the period, the number of samples, the sum of each value, the
// comments, and every sample's stack as function names (root first, ';'-joined; a location
// without a function is "0x<address>") with its first value summed. A file it cannot decode
// gets {"error": ...}.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { Profile } from "pprof-format";

const num = (v) => Number(v);
for (const path of readFileSync(0, "utf8").split("\n").filter(Boolean)) {
  let res;
  try {
    let raw = readFileSync(path);
    if (raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
    const p = Profile.decode(raw);
    const str = (i) => p.stringTable.strings[num(i)];
    const funcs = new Map(p.function.map((f) => [num(f.id), str(f.name)]));
    const locs = new Map(p.location.map((l) => [num(l.id), l]));
    const stacks = {};
    const sums = p.sampleType.map(() => 0);
    for (const s of p.sample) {
      s.value.forEach((v, i) => { sums[i] += num(v); });
      const names = [];
      for (const id of s.locationId) {
        const l = locs.get(num(id));
        if (!l) throw new Error(`sample names location ${id}, which is not in the profile`);
        // BigInt: an address past 2^53 (a garbage frame of a kernel-side stack walk) must not round
        if (!l.line.length) { names.push("0x" + BigInt(l.address).toString(16)); continue; }
        for (const ln of l.line) names.push(funcs.get(num(ln.functionId)));
      }
      const key = names.reverse().join(";");
      stacks[key] = (stacks[key] || 0) + (s.value.length ? num(s.value[0]) : 0);
    }
    res = {
      path,
      sample_types: p.sampleType.map((t) => [str(t.type), str(t.unit)]),
      period_type: p.periodType ? [str(p.periodType.type), str(p.periodType.unit)] : null,
      period: num(p.period),
      samples: p.sample.length,
      sums,
      mappings: p.mapping.map((m) => str(m.filename)),
      comments: p.comment.map((c) => str(c)),
      stacks,
    };
  } catch (e) {
    res = { path, error: String(e && e.message || e) };
  }
  process.stdout.write(JSON.stringify(res) + "\n");
}
