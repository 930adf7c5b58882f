# The crossvault API: python:3.11-slim, installed as a wheel, run as an unprivileged user.
# docker-compose.yml runs it against PostgreSQL 15; see .env.example for the settings.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY policies ./policies
COPY vault ./vault
COPY api ./api
COPY sim ./sim
COPY crossvault ./crossvault
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CROSSVAULT_DATA_DIR=/var/lib/crossvault \
    PROMETHEUS_MULTIPROC_DIR=/tmp/crossvault-metrics
# The data dir (keyring, generated secrets) and the blob dir are volumes; creating them
# here, owned by the service user and 0700, gives fresh named volumes the same owner.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/crossvault \
        --shell /usr/sbin/nologin crossvault \
    && install -d -o crossvault -g crossvault -m 0700 \
        /var/lib/crossvault /var/lib/crossvault/blobs
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/crossvault-entrypoint
USER crossvault:crossvault
WORKDIR /var/lib/crossvault
EXPOSE 8000
ENTRYPOINT ["crossvault-entrypoint"]
CMD ["crossvault", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
