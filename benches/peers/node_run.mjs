// The node peer of benches/peers.rs: runs a wasm32-wasip1 command module with Node's
// built-in `node:wasi` (preview1).
//
//   node --no-warnings node_run.mjs run [--dir HOST::GUEST]... [--env KEY=VALUE]... MODULE.wasm [ARGS...]
//
// The same spelling as `strata run`. The module is compiled at every start. The process exits
// with the guest's exit status.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { WASI } from 'node:wasi';

function usage() {
  console.error('usage: node_run.mjs run [--dir HOST::GUEST]... [--env KEY=VALUE]... MODULE.wasm [ARGS...]');
  process.exit(2);
}

let rest = process.argv.slice(2);
if (rest[0] !== 'run') usage();
rest = rest.slice(1);
const preopens = {};
const env = {};
while (rest[0] === '--dir' || rest[0] === '--env') {
  const [flag, value] = rest;
  if (value === undefined) usage();
  rest = rest.slice(2);
  if (flag === '--dir') {
    const sep = value.indexOf('::');
    const host = sep < 0 ? value : value.slice(0, sep);
    preopens[sep < 0 ? value : value.slice(sep + 2)] = host;
  } else {
    const eq = value.indexOf('=');
    env[eq < 0 ? value : value.slice(0, eq)] = eq < 0 ? '' : value.slice(eq + 1);
  }
}
if (rest.length === 0) usage();
const [modulePath, ...args] = rest;

const wasi = new WASI({
  version: 'preview1',
  args: [basename(modulePath), ...args],
  env,
  preopens,
  returnOnExit: true,
});
const module = await WebAssembly.compile(readFileSync(modulePath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
