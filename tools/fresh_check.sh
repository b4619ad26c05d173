#!/usr/bin/env bash
# A newcomer's first hour on a fresh machine: clone this repository into a temporary folder and
# run the README's two commands there (the quickstart, then the tests), then a non-editable
# install (a wheel) running the quickstart from outside the tree. Prints what passed and how
# long each took. Usage: bash tools/fresh_check.sh [--skip-tests]
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
SKIP_TESTS="${1:-}"
summary=()

# The README's first two ```bash blocks: the quickstart command and the test command.
readme_block() {
  python3 - "$WORK/quickstart/README.md" "$1" <<'EOF'
import re, sys
blocks = re.findall(r'```bash\n(.*?)```', open(sys.argv[1]).read(), re.S)
print(blocks[int(sys.argv[2])].strip())
EOF
}

step() {  # step NAME DIR COMMAND: run COMMAND in DIR, log it, record pass/fail and seconds
  local name="$1" dir="$2" command="$3" began=$SECONDS
  echo "== $name: $command"
  if (cd "$dir" && bash -c "$command") > "$WORK/$name.log" 2>&1; then
    summary+=("PASS  $name  $((SECONDS - began)) s")
  else
    summary+=("FAIL  $name  $((SECONDS - began)) s  (log: $WORK/$name.log)")
  fi
  tail -n 3 "$WORK/$name.log"
}

git clone -q "$ROOT" "$WORK/quickstart" && cp -r "$WORK/quickstart" "$WORK/tests"
COMMIT="$(git -C "$WORK/quickstart" rev-parse --short HEAD)"  # what was checked, not HEAD at the end
ln -s "$ROOT/../shared" "$WORK/shared" 2>/dev/null  # tests read ../shared where it exists
step quickstart "$WORK/quickstart" "$(readme_block 0)"
if [ "$SKIP_TESTS" != "--skip-tests" ]; then
  step tests "$WORK/tests" "$(readme_block 1)"
fi
# A wheel in a fresh venv that reuses the quickstart venv's dependencies, run outside the tree.
step wheel "$WORK" "python3 -m venv wheel-env \
  && $WORK/quickstart/.venv/bin/python -m pip wheel --no-deps --no-build-isolation -q -w dist $WORK/tests \
  && $WORK/quickstart/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])' \
     > \$(wheel-env/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')/deps.pth \
  && wheel-env/bin/pip install -q --no-deps --no-index dist/patchgen-*.whl \
  && mkdir -p elsewhere && cd elsewhere \
  && ../wheel-env/bin/patchgen quickstart --work-dir run --cfg-options train_cfg.max_iters=20"

echo
echo "fresh-machine check of $COMMIT on $(date -u +%F), in $WORK:"
printf '%s\n' "${summary[@]}"
