#!/usr/bin/env bash
# The one prepared GPU check (issue 12, item 6), under 5 minutes on one H200: the tests marked `gpu`,
# CPU and GPU predictions compared, and classify throughput (videos per hour, r2plus1d_18, Dense
# against a sampler) on 100 synthetic 2-minute videos. Its figures go to $OUT (or runs/gpu-check).
#
# The device image has PyTorch but not PyAV; put PyAV's wheel in .whl/ (git-ignored) first:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl av==18.1.0
# then, with the device tool, from the repository root:
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=420)
# A trained sampler can be carried too and named in SAMPLER (default: motion, which needs no training):
#   run(command="SAMPLER=runs/demo/scsampler bash benchmarks/gpu_check.sh", carry=[".whl", "runs/demo/scsampler"], ...)
# Ray is not in the device image (its wheel is larger than what travels), so the check runs the
# pipeline's local engine, one process per shard of the videos (PROCESSES, default 8), all on the one GPU.
set -euo pipefail
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA GPU'; print(torch.__version__, torch.cuda.get_device_name())"
set +e
python3 -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}
set -e
python3 benchmarks/gpu_check.py --out "$OUT" --sampler "${SAMPLER:-motion}" --processes "${PROCESSES:-8}" 2>&1 | tee "$OUT/gpu_check.log"
exit "$tests_rc"
