"""The edge worker: the local model runtime (onnxruntime) behind an OpenAI-compatible server."""
