# funnelgate gateway image: `docker compose up` runs it against PostgreSQL (see README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# pyproject.toml names README.md as the package readme, so the build needs it.
# constraints.txt pins the runtime packages to the versions the test suite passes with.
COPY pyproject.toml README.md constraints.txt ./
COPY app ./app
COPY schema ./schema
COPY resolvers ./resolvers
COPY db ./db
RUN pip install -c constraints.txt . \
    && rm -rf /src

# Unprivileged runtime user; /data holds object storage (and the SQLite file if no
# FUNNELGATE_DATABASE_URL is given). Created here so a named volume inherits the owner.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin funnelgate \
    && mkdir -p /data/objects \
    && chown -R funnelgate:funnelgate /data
USER funnelgate
WORKDIR /data
ENV FUNNELGATE_STORAGE_URL=/data/objects

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

# `funnelgate serve` applies the database migrations before it starts listening.
CMD ["funnelgate", "serve", "--host", "0.0.0.0", "--port", "8000"]
