#!/usr/bin/env bash
# One prepared run on a machine with an NVIDIA GPU (see benchmarks/RESULTS.md, "GPU"): the backend
# parity tests on cupy and torch_cuda, then benchmarks/gpu.py, inference.py, gpu_sweep.py and
# time_bins.py on the GPU. Each step has its own time limit; logs go to ${OUT:-gpu_out}/.
# Dependencies missing on the machine (dask, distributed, zarr, ...) can be given as wheels in .whl/.
# Each step's limit (T_TESTS, ...) and arguments (GPU_ARGS, INF_ARGS, SWEEP_ARGS, BINS_ARGS) can be set
# in the environment, e.g. for a shorter second run: GPU_ARGS="--backend cupy,torch_cuda --rdm-only". The defaults
# fit one call of about 8 minutes on an H200 (2026-12-04: tests 47 s, gpu.py 69 s, inference 30 s, sweep 98 s,
# time bins 39 s at these sizes; 1,000 resamples, 6 layers or the full 13.8 GB of time bins ran past their limits).
set -u
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
step() {  # step NAME SECONDS COMMAND...: run with a limit, log to $OUT/NAME.log, report the status
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "== $name: exit $? after $((SECONDS - t0)) s (limit $limit s)"
  tail -n 40 "$OUT/$name.log"
}
nvidia-smi -L
python3 -c "import torch, cupy, numpy; print('torch', torch.__version__, 'cupy', cupy.__version__, 'numpy', numpy.__version__)"
step tests "${T_TESTS:-70}" python3 -m pytest -q -p no:cacheprovider --no-header -rfs \
  tests/test_backend_devices.py tests/test_backend.py -k "cupy or cuda or gpu or devices"
cd benchmarks
step gpu "${T_GPU:-130}" python3 gpu.py ${GPU_ARGS:---backend cupy,torch_cuda --dtype float64,float32}
step inference "${T_INF:-60}" python3 inference.py ${INF_ARGS:---backend cupy --no-rsa --n-boot 100 --n-perm 100}
step sweep "${T_SWEEP:-130}" python3 gpu_sweep.py ${SWEEP_ARGS:---backend cupy --layers 2 --client cuda --metrics}
step time_bins "${T_BINS:-60}" python3 time_bins.py ${BINS_ARGS:---backend cupy --repeats 1 --scale 0.5}
