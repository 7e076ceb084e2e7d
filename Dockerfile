# ringi: one image for the worker, the HTTP API and the one-shot `ringi db init`.
#
#   docker build -t ringi .
#   docker run --rm -e RINGI_TEMPORAL_ADDRESS=host:7233 ringi            # the worker
#   docker run --rm -p 8000:8000 ringi ringi serve --host 0.0.0.0        # the API and the pages
#
# Settings come from RINGI_* environment variables (see ringi/config.py);
# docker-compose.yml runs all three (docs/operations.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# README.md* so that the build works whether or not the README exists yet.
COPY pyproject.toml MANIFEST.in README.md* ./
COPY ringi ./ringi
RUN pip install . \
    && rm -rf /src/build /src/*.egg-info

# Run as an unprivileged user with its own data directory (policy.json, and
# the SQLite event store when RINGI_STORE=sqlite).
RUN groupadd --system --gid 10001 ringi \
    && useradd --system --uid 10001 --gid ringi --create-home --home-dir /home/ringi ringi \
    && mkdir -p /var/lib/ringi \
    && chown ringi:ringi /var/lib/ringi
ENV RINGI_DATA_DIR=/var/lib/ringi
WORKDIR /home/ringi
USER ringi

# The worker registers ringi's search attributes itself when it starts.
CMD ["python", "-m", "ringi.worker"]
