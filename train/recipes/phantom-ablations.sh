#!/usr/bin/env bash
# The two ablations of the offline default model (issue #8), after `bash train/recipes/phantom.sh`:
#   one-stage: triples from the start, no stage 1 (same 3000 steps on triples as the shipped stage 2);
#   unregistered: data prepared without registration, then stage 2 from the same stage 1.
# Usage: bash train/recipes/phantom-ablations.sh [WORK_DIR] [one-stage|unregistered|both]
# Each run takes about 35 minutes on 2 cores; with `both` they run side by side on one core each.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-work/phantom-recipe}
WHICH=${2:-both}

one_stage() {
  python -m train.fit --data "$W/prep" --stage single --output "$W/ablation-one-stage" \
    --config "$W/phantom-small.yaml" --max-steps 3000 --resume latest --quiet
}
unregistered() {
  python -m train.prepare --mimic-root "$W/phantom" --out "$W/prep-unregistered" --no-registration --workers 1 --quiet
  python -m train.fit --data "$W/prep-unregistered" --stage 2 --output "$W/ablation-unregistered" \
    --config "$W/phantom-small.yaml" --max-steps 3000 --resume latest --init "$W/stage1/final" --quiet
}

case "$WHICH" in
  one-stage) one_stage ;;
  unregistered) unregistered ;;
  both) export OMP_NUM_THREADS=1; one_stage & unregistered & wait ;;
  *) echo "usage: $0 [WORK_DIR] [one-stage|unregistered|both]" >&2; exit 2 ;;
esac
echo "ablations done: $W/ablation-one-stage/final $W/ablation-unregistered/final"
