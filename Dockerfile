# The exporter's container image.
#
#   docker build -t vercel-ai-gateway-exporter .
#   docker run -p 9853:9853 -e AI_GATEWAY_API_KEY vercel-ai-gateway-exporter
#   docker run -p 9854:9854 vercel-ai-gateway-exporter simulate --web.listen-address=:9854
#
# Two stages: the builder installs the package into a virtualenv; the runtime stage copies that
# virtualenv onto the same slim base (no compilers, no pip in the virtualenv) and runs it as a
# fixed non-root user. The only writable path the exporter needs is the state volume.

# Pinned by tag and by the digest of its multi-platform index; bump both together.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv --without-pip /opt/venv
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# The base image's pip installs into the virtualenv, which stays without pip of its own.
RUN pip --python /opt/venv/bin/python install --no-cache-dir .

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
# The package version (pyproject's project.version); CI passes the release's.
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="vercel-ai-gateway-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Vercel AI Gateway credits, spend and per-generation cost, latency and tokens" \
      org.opencontainers.image.url="https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter" \
      org.opencontainers.image.source="https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter" \
      org.opencontainers.image.documentation="https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter#readme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# A fixed UID/GID (the distroless "nonroot" numbers), so Kubernetes' runAsNonRoot can check it
# and the Helm chart's runAsUser/fsGroup match without a lookup.
RUN groupadd --system --gid 65532 exporter \
    && useradd --system --uid 65532 --gid 65532 --no-create-home \
        --home-dir /var/lib/vercel-ai-gateway-exporter --shell /usr/sbin/nologin exporter \
    && mkdir -p /var/lib/vercel-ai-gateway-exporter \
    && chown 65532:65532 /var/lib/vercel-ai-gateway-exporter \
    && chmod 0750 /var/lib/vercel-ai-gateway-exporter

COPY --from=builder /opt/venv /opt/venv

# The state path is an environment variable rather than an argument, so arguments given to
# `docker run` add to it instead of replacing it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AI_GATEWAY_EXPORTER_STATE_PATH=/var/lib/vercel-ai-gateway-exporter/state.db

VOLUME ["/var/lib/vercel-ai-gateway-exporter"]
WORKDIR /var/lib/vercel-ai-gateway-exporter
USER 65532:65532
EXPOSE 9853
ENTRYPOINT ["vercel-ai-gateway-exporter"]
CMD []
