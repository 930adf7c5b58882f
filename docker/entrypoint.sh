#!/bin/sh
# Container start-up. For `crossvault serve`: empty the Prometheus multiprocess directory
# (samples of a previous run's workers would be summed in), migrate the schema
# (`crossvault db upgrade`: idempotent, serialised by an advisory lock), then serve.
# Any other command runs as given (e.g. `crossvault audit verify`).
set -eu

if [ "${1:-}" = "crossvault" ] && [ "${2:-}" = "serve" ]; then
    rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    crossvault db upgrade
fi
exec "$@"
