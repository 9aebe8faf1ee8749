#!/usr/bin/env bash
# The secondary build path: node-gyp through binding.gyp, from the same build-config.json as cmake-js.
# It builds in build-gyp/ (a staging copy) so it never touches cmake-js's build/, then checks that both
# addons import the same Node-API symbols and that the gyp build loads and round-trips every compressor.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build-gyp && mkdir -p build-gyp/src
cp -r binding.gyp build-config.json package.json native build-gyp/src/
ln -s "$PWD/node_modules" build-gyp/src/node_modules
(cd build-gyp/src && ../../node_modules/.bin/node-gyp rebuild --loglevel=error >/dev/null)
mkdir -p build-gyp/Release && cp build-gyp/src/build/Release/casper_snapshot.node build-gyp/Release/
node -e "
const a = require('./build-gyp/Release/casper_snapshot.node');
const data = Buffer.alloc(65536, 'casper ');
for (const { name } of a.versions().compressors) {
  const spec = { compressor: name, blockSize: 131072 };
  const c = a.compress(data, spec);
  const d = Buffer.from(a.decompress(c, spec, data.length));
  if (!d.equals(data)) { console.error('gyp build: ' + name + ' round trip failed'); process.exit(1); }
}
console.log('node-gyp build ok:', a.versions().addon, '(' + a.versions().compressors.map((c) => c.name).join(', ') + ')');
"
if [ -f build/Release/casper_snapshot.node ]; then
  imports() { nm -D --undefined-only "$1" | awk '{print $2}' | grep '^napi_' | sort -u; }
  if ! diff <(imports build/Release/casper_snapshot.node) <(imports build-gyp/Release/casper_snapshot.node); then
    echo "cmake-js and node-gyp builds import different Node-API symbols" >&2
    exit 1
  fi
  echo "cmake-js and node-gyp builds import the same Node-API symbols"
fi
