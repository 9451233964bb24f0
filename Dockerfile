# The operator image: the `azureml-operator` command with compiled bytecode (importing azure-ai-ml is
# ~3x slower without .pyc) and no build tools. It holds only the product: the local stand-ins
# (simulator, Kubernetes stand-in, demo) are the separate azureml-standins distribution in
# standins/, which is not copied in; `pip install ./standins` where you need them.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install . \
 && python -m compileall -q /install

FROM python:3.12-slim
COPY --from=build /install /usr/local
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin azureml
USER 10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["azureml-operator"]
# Watches every namespace; the Helm chart passes --namespace flags instead where it is scoped.
CMD ["run", "--all-namespaces"]
