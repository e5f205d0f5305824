# Sourced, not run: the app on a scratch SQLite data folder with the demo data, served by gunicorn on
# loopback, the way bin/schemathesis serves it, with a staff user whose API token is
# $CONFIOTES_ADMIN_TOKEN. Call from the repository root, after bin/bootstrap:
#
#   . bin/lib/scratch-server.sh
#   scratch_server_start            # sets SCRATCH_SERVER_URL; picks a free port unless SCRATCH_SERVER_PORT is set
#   trap scratch_server_stop EXIT   # stops gunicorn, deletes the data folder

scratch_server_start() {
  local port="${SCRATCH_SERVER_PORT:-}"
  if [ -z "$port" ]; then
    # A free port, not a fixed one: several checks (and people) share the CI machine.
    port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  SCRATCH_SERVER_DATA_DIR="$(mktemp -d)"
  export CONFIOTES_DATA_DIR="$SCRATCH_SERVER_DATA_DIR"
  unset DATABASE_URL REDIS_URL
  export CONFIOTES_ADMIN_TOKEN="${CONFIOTES_ADMIN_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(20))')}"
  .venv/bin/python manage.py migrate --noinput >/dev/null
  .venv/bin/python manage.py bootstrap_staff --quiet
  .venv/bin/python manage.py seed_demo >/dev/null
  WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}" .venv/bin/gunicorn api.wsgi:application --config gunicorn.conf.py \
    --bind "127.0.0.1:$port" --log-level warning &
  SCRATCH_SERVER_PID=$!
  SCRATCH_SERVER_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 120); do
    if curl -fsS "$SCRATCH_SERVER_URL/api/v1/health" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$SCRATCH_SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "the scratch server did not answer on $SCRATCH_SERVER_URL/api/v1/health" >&2
  return 1
}

scratch_server_stop() {
  if [ -n "${SCRATCH_SERVER_PID:-}" ]; then
    kill "$SCRATCH_SERVER_PID" 2>/dev/null || true
    wait "$SCRATCH_SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "${SCRATCH_SERVER_DATA_DIR:-}" ]; then rm -rf "$SCRATCH_SERVER_DATA_DIR"; fi
}
