#!/usr/bin/env bash
# The offline default model, end to end, with the project's own commands (CPU; about 75 minutes on 2 cores).
# Usage: bash train/recipes/phantom.sh [WORK_DIR]   (default: work/phantom-recipe, ignored by git)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-work/phantom-recipe}
mkdir -p "$W"

# 1. Phantom journeys: 600 patients x 5 studies (p19, a tenth of the patients, is the test split).
[ -f "$W/phantom/patients.csv" ] || python -m medjourney_core.phantom --out "$W/phantom" --patients 600 --studies 5 --seed 0 --quiet
# 2. Data preparation (registration, labels, rule-drafted descriptions).
python -m train.prepare --mimic-root "$W/phantom" --out "$W/prep" --workers 2 --quiet
# 3. The small autoencoder.
[ -f "$W/vae/final/config.json" ] || python -m train.vae --data "$W/prep" --output "$W/vae" --max-steps 1500 --quiet
sed "s#^  vae: null.*#  vae: $W/vae/final#" train/configs/phantom-small.yaml > "$W/phantom-small.yaml"
# 4. Stage 1 (single image-report pairs, dummy prior), then stage 2 (triples), from stage 1.
python -m train.fit --data "$W/prep" --stage 1 --output "$W/stage1" --config "$W/phantom-small.yaml" --max-steps 1200 --resume latest --quiet
python -m train.fit --data "$W/prep" --stage 2 --output "$W/stage2" --config "$W/phantom-small.yaml" --max-steps 3000 --resume latest --init "$W/stage1/final" --quiet
echo "recipe done: $W/stage2/final"
