# syntax=docker/dockerfile:1
# The operator image: the `azureml-operator` command and its dependencies, installed from wheels
# built in the first stage, with compiled bytecode (importing azure-ai-ml is ~3x slower without
# .pyc) and no build tools. It holds only the product: the local stand-ins (simulator, Kubernetes
# stand-in, demo) are the separate azureml-standins distribution in standins/, never copied in.
# tests/chart/test_image.py builds the same wheel from the same files and checks this file against
# the Helm chart (user, entry point).

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# The operator's wheel and a wheel of every dependency: the final stage installs from these alone.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
# Installed with --no-index from the build stage's wheels: nothing is fetched here or at run time.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels azureml-operator \
 && python -m compileall -q /usr/local/lib/python3.12/site-packages
# The chart's pod runs as 65532:65532 (podSecurityContext) with a read-only root filesystem and an
# emptyDir at /tmp, which is also HOME for anything the Azure SDK caches.
RUN groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin nonroot
USER 65532:65532
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Prometheus /metrics and kopf's /healthz (--metrics-port, --health-port).
EXPOSE 8080 8081
ENTRYPOINT ["azureml-operator"]
# Watches every namespace; the Helm chart passes its own arguments (--namespace, ...) instead.
CMD ["run", "--all-namespaces"]
