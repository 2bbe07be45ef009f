#!/usr/bin/env bash
# Prints the OrtApi slot index of every C API function the binding uses, computed by the C compiler
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
  ReleaseValue ReleaseTypeInfo ReleaseTensorTypeAndShapeInfo ReleaseSessionOptions RunWithBinding CreateIoBinding
  ReleaseIoBinding BindInput BindOutput SessionOptionsAppendExecutionProvider_CUDA_V2 CreateCUDAProviderOptions
  UpdateCUDAProviderOptions ReleaseCUDAProviderOptions)
{
  echo '#include <stdio.h>'; echo '#include <stddef.h>'; echo '#include "onnxruntime_c_api.h"'
  echo 'int main(void) { printf("ORT_API_VERSION %d\n", ORT_API_VERSION);'
  for n in "${names[@]}"; do echo "printf(\"%-48s %zu\\n\", \"$n\", offsetof(OrtApi, $n) / sizeof(void*));"; done
  echo 'return 0; }'
} > "$tmp/slots.c"
cc -I"$HERE/lib/include" "$tmp/slots.c" -o "$tmp/slots"
"$tmp/slots"
