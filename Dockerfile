# The probe image for `scan --probe` (and a way to run the scanner itself in a pod).
#   docker build -t ghcr.io/k8s-isolation-audit/k8s-isolation-audit:0.1.0 .
# The probe Jobs run it as uid 65532 with all capabilities dropped and a read-only root.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md SECURITY.md ./
COPY auditor ./auditor
COPY checks ./checks
COPY rules ./rules
COPY fixtures/demo ./fixtures/demo
RUN pip install . && rm -rf /src

RUN groupadd --gid 65532 audit && \
    useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin audit
USER 65532:65532
WORKDIR /

ENTRYPOINT ["k8s-isolation-audit"]
CMD ["--help"]
