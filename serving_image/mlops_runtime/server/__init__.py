"""Model server of the runtime image (``mlops-runtime serve``).

Modules: ``settings`` (args + env), ``schema`` (input schema), ``payloads``
(request decoding and validation), ``runtime`` (fetch, verify, load, predict),
``metrics`` (own Prometheus registry), ``batching`` (adaptive batching),
``app`` (FastAPI app factory) and ``main`` (uvicorn runner).
"""
