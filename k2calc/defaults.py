"""Defaults shared by the library, the CLI and the API, in a module with no imports so that the CLI's
option declarations can use them without loading the analysis modules."""

DEFAULT_MEM_FRACTION = 0.9  # vLLM's --gpu-memory-utilization default
DEFAULT_CHUNK = 8192  # SGLang's --chunked-prefill-size for large GPUs, vLLM's max_num_batched_tokens order
