#!/usr/bin/env bash
# The offline default model, end to end, with the project's own commands, on a 2-core CPU. Measured:
# about 70 minutes to the stage-2 model (VAE 20, stage 1 14, stage 2 35, on idle cores); the evaluators
# 24 minutes and the two ablations side by side 85 minutes (both while sharing the cores with each
# other); the ten validation runs and the test evaluation about 35 minutes. Steps already done are
# skipped or resumed, so an interrupted run can be started again.
# Usage: bash train/recipes/phantom.sh [WORK_DIR]   (default: work/phantom-recipe, ignored by git)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-work/phantom-recipe}
# The shipped defaults (text guidance, image guidance, strength), chosen on validation pairs by step 7.
TEXT_GUIDANCE=${TEXT_GUIDANCE:-5.0}
IMAGE_GUIDANCE=${IMAGE_GUIDANCE:-2.0}
STRENGTH=${STRENGTH:-0.8}
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
# 5. The phantom evaluators, on patients drawn with their own seeds (disjoint from the export).
[ -f "$W/evaluators/report.json" ] || python -m evaluate.train_evaluators --out "$W/evaluators" --quiet
export MEDJOURNEY_PHANTOM_EVALUATORS="$W/evaluators"
# 6. The ablations: one-stage, and data prepared without registration.
bash train/recipes/phantom-ablations.sh "$W" both
# 7. Guidance and strength on validation pairs (never the test split); the README's table is
#    `python -m evaluate.summary $W/guidance/*`.
for G in "5.0 2.0 1.0" "5.0 3.0 1.0" "5.0 1.5 1.0" "3.0 2.0 1.0" "7.5 3.0 1.0" "5.0 2.0 0.9" "5.0 2.0 0.8" "7.5 2.0 0.8" \
         "5.0 2.0 0.7" "7.5 2.0 0.7"; do
  set -- $G
  python -m evaluate.run --model "$W/stage2/final" --data "$W/prep" --split validate --limit 60 --systems medjourney,identity \
    --evaluators phantom --text-guidance "$1" --image-guidance "$2" --strength "$3" --out "$W/guidance/text$1-image$2-strength$3" \
    --quiet > /dev/null
done
# 8. The test patients: every system and both ablations at the chosen guidance.
python -m evaluate.run --model "$W/stage2/final" --text-only-model "$W/stage1/final" --data "$W/prep" --split test \
  --systems medjourney,identity,text-only,roentgen,ip2p --ablation one-stage="$W/ablation-one-stage/final" \
  --ablation unregistered="$W/ablation-unregistered/final" --evaluators phantom \
  --text-guidance "$TEXT_GUIDANCE" --image-guidance "$IMAGE_GUIDANCE" --strength "$STRENGTH" --out "$W/eval" --quiet
# 9. Ship the models, evaluators and example priors into assets/.
python -m train.ship --stage2 "$W/stage2/final" --stage1 "$W/stage1/final" --data "$W/prep" --eval "$W/eval" \
  --evaluators "$W/evaluators" --guidance "$TEXT_GUIDANCE" "$IMAGE_GUIDANCE" --strength "$STRENGTH"
echo "recipe done: $W/eval/tables.md, assets/medjourney-phantom"
