#!/usr/bin/env bash
# Installs the toolchains that build policies in Python and JavaScript, at
# pinned versions, under $RAMPART_TOOLCHAINS (default
# ~/.cache/rampart/toolchains), where `rampart policy build` looks for them:
#   python/  a virtualenv with componentize-py
#   node/    npm packages with @bytecodealliance/componentize-js
# C needs Debian packages (clang lld wasi-libc libclang-rt-14-dev-wasm32),
# which scripts/setup.sh installs. Safe to run again: an installed pinned
# version is kept (the cache between runs on one machine).
set -euo pipefail
COMPONENTIZE_PY=0.25.1
COMPONENTIZE_JS=0.23.0
dir=${RAMPART_TOOLCHAINS:-$HOME/.cache/rampart/toolchains}
mkdir -p "$dir"

if [ "$("$dir/python/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY" ]; then
    python3 -m venv "$dir/python"
    "$dir/python/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY"
fi
"$dir/python/bin/componentize-py" --version

if ! command -v npm >/dev/null; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends nodejs npm
fi
if [ "$("$dir/node/node_modules/.bin/componentize-js" --version 2>/dev/null)" != "$COMPONENTIZE_JS" ]; then
    mkdir -p "$dir/node"
    (cd "$dir/node" && [ -f package.json ] || echo '{"name":"rampart-toolchains","private":true}' > package.json)
    npm install --prefix "$dir/node" --no-audit --no-fund --loglevel=error \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS"
fi
echo "componentize-js $("$dir/node/node_modules/.bin/componentize-js" --version)"
