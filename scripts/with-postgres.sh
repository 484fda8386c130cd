#!/usr/bin/env bash
# Run a command with a private, throw-away PostgreSQL server on a free loopback port.
# The server is started with initdb + pg_ctl in a temporary folder and stopped by PID when the
# command ends (whatever its outcome). The command sees DAYTWO_TEST_POSTGRES_URL.
set -euo pipefail

bindir="${PG_BINDIR:-}"
if [ -z "$bindir" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "PostgreSQL server binaries not found; run 'make system-deps' first." >&2
  exit 1
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/daytwo-pg.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

# initdb refuses to run as root: run the server as an unprivileged account.
as_user=()
if [ "$(id -u)" = "0" ]; then
  pg_user=postgres
  id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
  chown "$pg_user" "$workdir"
  as_user=(runuser -u "$pg_user" --)
fi

pid=""
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true          # fast shutdown
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap stop EXIT INT TERM

"${as_user[@]}" "$bindir/initdb" -D "$workdir/data" -U daytwo --auth=trust -E UTF8 \
  --no-locale >"$workdir/initdb.log" 2>&1 || { cat "$workdir/initdb.log" >&2; exit 1; }
"${as_user[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
  -o "-p $port -k $workdir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
pid=$(head -n 1 "$workdir/data/postmaster.pid")
"${as_user[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U daytwo daytwo

export DAYTWO_TEST_POSTGRES_URL="postgresql+psycopg://daytwo@127.0.0.1:$port/daytwo"
set +e
"$@"
status=$?
set -e
exit "$status"
