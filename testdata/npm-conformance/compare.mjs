// Compares two runs of `conformance server -o DIR` (odock's /mcp, and the
// same reference server reached directly) scenario by scenario. Prints
// "PASS ..." / "FAIL ..." lines for the e2e script and a summary table.
// odock does worse when it has more FAILURE checks than direct in a
// scenario; dns-rebinding-protection must pass outright.
// Usage: node compare.mjs ODOCK_DIR DIRECT_DIR [KNOWN_FILE]
import fs from 'node:fs';
import path from 'node:path';

const [odockDir, directDir, knownFile] = process.argv.slice(2);
// "scenario  reason" lines: differences explained in the file, not hidden
const known = new Map();
if (knownFile && fs.existsSync(knownFile)) {
  for (const l of fs.readFileSync(knownFile, 'utf8').split('\n')) {
    const m = l.match(/^([\w-]+)\s+(.+)$/);
    if (m && !l.startsWith('#')) known.set(m[1], m[2]);
  }
}

function load(dir) {
  const out = new Map();
  for (const d of fs.readdirSync(dir)) {
    const m = d.match(/^server-(.+)-\d{4}-\d\d-\d\dT/);
    const f = path.join(dir, d, 'checks.json');
    if (!m || !fs.existsSync(f)) continue;
    const checks = JSON.parse(fs.readFileSync(f, 'utf8'));
    out.set(m[1], {
      pass: checks.filter((c) => c.status === 'SUCCESS').length,
      fail: checks.filter((c) => c.status === 'FAILURE').length,
      why: checks.filter((c) => c.status === 'FAILURE').map((c) => c.errorMessage).join('; ').slice(0, 160),
    });
  }
  return out;
}

const o = load(odockDir), d = load(directDir);
let worse = 0;
const rows = [];
for (const name of [...new Set([...o.keys(), ...d.keys()])].sort()) {
  const a = o.get(name) || {pass: 0, fail: 1, why: 'not run'};
  const b = d.get(name) || {pass: 0, fail: 0, why: ''};
  rows.push(`${name.padEnd(32)} odock ${a.pass}/${a.fail}  direct ${b.pass}/${b.fail}`);
  if (name === 'dns-rebinding-protection') {
    if (a.fail === 0 && a.pass > 0) console.log(`PASS ${name}: odock passes (${a.pass} checks; direct ${b.pass}/${b.fail})`);
    else { worse++; console.log(`FAIL ${name}: odock ${a.pass} passed, ${a.fail} failed: ${a.why}`); }
    continue;
  }
  if (a.fail <= b.fail) console.log(`PASS ${name}: odock no worse than direct (failed checks ${a.fail} vs ${b.fail})`);
  else if (known.has(name)) console.log(`PASS ${name}: known difference (failed ${a.fail} vs ${b.fail}): ${known.get(name)}`);
  else { worse++; console.log(`FAIL ${name}: odock failed ${a.fail} checks, direct ${b.fail}: ${a.why}`); }
}
console.log('# scenario                        passed/failed checks');
for (const r of rows) console.log(`# ${r}`);
process.exit(worse ? 1 : 0);
