# The project's two images, one target each; build from the repository root:
#   docker build --target runtime  -t mlops-operator/runtime:0.1.0 .
#   docker build --target operator -t mlops-operator/operator:0.1.0 .
# runtime: the model server (`mlops-runtime serve`) and the built-in trainer;
# operator: the kopf handlers (`mlops-operator`). Each carries only what runs in it: its
# own locked dependencies (requirements/<target>.lock) and its own package, plus the
# shared metric names (mlops_telemetry); neither has the other's package or the dev tools.
#
# The base is pinned by digest (refresh it with
# `docker buildx imagetools inspect python:3.11-slim`); every package comes from a lock
# with its sha256 (`--require-hashes`), as wheels only, so nothing is compiled and nothing
# unpinned is fetched. Regenerate the locks with the commands in requirements/README.md.
# BASE_IMAGE: a machine with no registry passes a locally made Python 3.11 base instead
# (`mlops-dev cluster build` does, from Debian packages); kind and CI registries use the default.
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# ---- build-base: what both builds share: an empty virtualenv for the dependencies, whose
# .pth file adds the project's own prefix (/opt/project, filled later) to its import path,
# and the SBOM tool in a virtualenv of its own (never copied into an image) ----
FROM ${BASE_IMAGE} AS build-base
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/sbom.lock ./requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/python -c "import sysconfig, pathlib; site = sysconfig.get_path('purelib'); pathlib.Path(site, 'mlops-project.pth').write_text(site.replace('/opt/venv', '/opt/project', 1) + '\n')" \
 && python -m venv /opt/sbom \
 && /opt/sbom/bin/pip install --require-hashes --only-binary :all: -r requirements/sbom.lock

# ---- runtime-build: its locked dependencies (a layer only a new lock changes), then the
# project with only the runtime's package in the context, so only it is installed; the
# import proves the virtualenv finds it; then a CycloneDX SBOM of what the image holds ----
FROM build-base AS runtime-build
COPY requirements/runtime.lock ./requirements/
RUN /opt/venv/bin/pip install --require-hashes --only-binary :all: -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY telemetry ./telemetry
COPY serving_image/mlops_runtime ./serving_image/mlops_runtime
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --prefix /opt/project . \
 && rm /opt/project/bin/mlops-operator /opt/project/bin/mlops-dev /opt/project/bin/kubectl-mlops \
 && /opt/venv/bin/python -c "import mlops_runtime.server.app, mlops_runtime.trainer.main" \
 && mkdir -p /opt/project/share/sbom \
 && /opt/sbom/bin/cyclonedx-py environment --output-reproducible --of JSON \
      -o /opt/project/share/sbom/mlops-runtime.cdx.json /opt/venv/bin/python

# ---- operator-build: the same steps with the operator's lock and package ----
FROM build-base AS operator-build
COPY requirements/operator.lock ./requirements/
RUN /opt/venv/bin/pip install --require-hashes --only-binary :all: -r requirements/operator.lock
COPY pyproject.toml README.md ./
COPY telemetry ./telemetry
COPY operator/mlops_operator ./operator/mlops_operator
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --prefix /opt/project . \
 && rm /opt/project/bin/mlops-runtime /opt/project/bin/mlops-dev /opt/project/bin/kubectl-mlops \
 && /opt/venv/bin/python -c "import mlops_operator.main" \
 && mkdir -p /opt/project/share/sbom \
 && /opt/sbom/bin/cyclonedx-py environment --output-reproducible --of JSON \
      -o /opt/project/share/sbom/mlops-operator.cdx.json /opt/venv/bin/python

# ---- runtime: the dependencies' virtualenv, then the project (with its SBOM at
# /opt/project/share/sbom) in a layer of its own; non-root ----
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/project/bin:/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=runtime-build /opt/venv /opt/venv
COPY --from=runtime-build /opt/project /opt/project
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["mlops-runtime"]
CMD ["serve"]

# ---- operator: likewise. HOME points at /tmp because the Deployment mounts the root
# filesystem read-only and /tmp is its only writable path (an emptyDir) ----
FROM ${BASE_IMAGE} AS operator
ENV PATH=/opt/project/bin:/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=operator-build /opt/venv /opt/venv
COPY --from=operator-build /opt/project /opt/project
# The same uid as the runtime image and the pods the operator creates (builders.RESTRICTED_POD).
USER 65532:65532
# 8085: Alertmanager webhook receiver; 8086: kopf's liveness endpoint (--liveness=...).
EXPOSE 8085 8086
ENTRYPOINT ["mlops-operator"]
