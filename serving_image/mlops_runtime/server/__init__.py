"""Model server of the runtime image (``mlops-runtime serve``).

Modules: ``settings`` (args + env), ``schema`` (input schema), ``payloads``
(request decoding and validation: float matrices, the numeric fast path),
``columns`` and ``column_payloads`` (one array per feature, for string, bool and
nullable features), ``runtime`` (fetch, verify, load, predict),
``metrics`` (own Prometheus registry), ``batching`` (adaptive batching),
``service`` (the data plane), ``routes`` (the route table), ``endpoints`` (what
each route answers), ``errors`` (the one error mapper), ``fastpath`` (inference
before routing), ``openapi`` (the document at /openapi.json), ``app`` (the app
factory) and ``main`` (uvicorn runner).

Configuration (arguments win over environment): ``--model-uri``/MLOPS_MODEL_URI,
``--sha256``/MLOPS_MODEL_SHA256 (required), ``--model-name``/MLOPS_MODEL_NAME,
``--model-version``/MLOPS_MODEL_VERSION, ``--track``/MLOPS_TRACK (stable|canary),
``--input-schema``/MLOPS_INPUT_SCHEMA (default: the ONNX metadata),
``--host``/MLOPS_HOST (default $POD_IP, else 127.0.0.1), ``--port``/MLOPS_PORT
(8080), ``--format`` (onnx|skops), ``--batching``/MLOPS_ADAPTIVE_BATCHING (off).

``--fault-error-rate``/MLOPS_FAULT_ERROR_RATE is for demos and tests ONLY: that
fraction (0..1) of valid inference requests is answered with HTTP 500 (and
counted as such in ``mlops_requests_total``), to play a misbehaving canary that
the operator must roll back. ``--fault-latency``/MLOPS_FAULT_LATENCY (seconds,
0..60) likewise makes every inference request wait that long before its answer
(recorded in ``mlops_request_duration_seconds``), to play a slow canary. Both
default to 0 and must stay 0 in production.
"""
