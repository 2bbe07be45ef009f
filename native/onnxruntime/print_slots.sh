#!/usr/bin/env bash
# Prints the OrtApi slot index of every C API function the binding uses (and the layout of OrtCUDAProviderOptions), computed by the C compiler
# (offsetof / sizeof(void*)) from the header that ships with the fetched library (lib/include, see fetch.sh).
# Compare the output with the slot constants in src/Models/Runtime/Interop/OrtApi.cs when moving to a new
# ONNX Runtime version: the OrtApi struct only ever grows at the end, so the slots of a given API version are stable.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/fetch.sh" >/dev/null
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
names=(CreateStatus GetErrorCode GetErrorMessage CreateEnv CreateSession CreateSessionFromArray Run
  CreateSessionOptions SetSessionGraphOptimizationLevel SetIntraOpNumThreads SessionGetInputCount
  SessionGetOutputCount SessionGetInputTypeInfo SessionGetOutputTypeInfo SessionGetInputName SessionGetOutputName
  CreateTensorWithDataAsOrtValue GetTensorMutableData CastTypeInfoToTensorInfo GetOnnxTypeFromTypeInfo
  GetTensorElementType GetDimensionsCount GetDimensions GetTensorTypeAndShape CreateCpuMemoryInfo
  AllocatorFree GetAllocatorWithDefaultOptions ReleaseEnv ReleaseStatus ReleaseMemoryInfo ReleaseSession
  ReleaseValue ReleaseTypeInfo ReleaseTensorTypeAndShapeInfo ReleaseSessionOptions
  SessionOptionsAppendExecutionProvider_CUDA
)
{
  echo '#include <stdio.h>'; echo '#include <stddef.h>'; echo '#include "onnxruntime_c_api.h"'
  echo 'int main(void) { printf("ORT_API_VERSION %d\n", ORT_API_VERSION);'
  for n in "${names[@]}"; do echo "printf(\"%-48s %zu\\n\", \"$n\", offsetof(OrtApi, $n) / sizeof(void*));"; done
  echo 'printf("sizeof(OrtCUDAProviderOptions) %zu\n", sizeof(OrtCUDAProviderOptions));'
  for f in device_id cudnn_conv_algo_search gpu_mem_limit arena_extend_strategy do_copy_in_default_stream \
      has_user_compute_stream user_compute_stream default_memory_arena_cfg tunable_op_enable tunable_op_tuning_enable \
      tunable_op_max_tuning_duration_ms; do
    echo "printf(\"OrtCUDAProviderOptions.%-36s %zu\\n\", \"$f\", offsetof(OrtCUDAProviderOptions, $f));"
  done
  echo 'return 0; }'
} > "$tmp/slots.c"
cc -I"$HERE/lib/include" "$tmp/slots.c" -o "$tmp/slots"
"$tmp/slots"
