# Sourced by scripts/test and scripts/check-schema: makes sure JIESU_TEST_POSTGRES_URL names a
# PostgreSQL server whose user may CREATE DATABASE. Uses the variable if set, else a server on
# 127.0.0.1:5432 (user postgres, trust auth), else starts a throwaway cluster with
# initdb/pg_ctl that is stopped and removed when the calling script exits.

find_pg_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  ls /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1
}

start_throwaway_cluster() {
  local initdb pg_ctl port base
  initdb=$(find_pg_bin initdb); pg_ctl=$(find_pg_bin pg_ctl)
  if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
    echo "no PostgreSQL server and no initdb/pg_ctl to start one (apt-get install postgresql)" >&2
    exit 1
  fi
  base=$(mktemp -d /tmp/jiesu-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local as=()
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root: run the cluster as the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system postgres
    chown postgres "$base"
    as=(su postgres -s /bin/sh -c)
  else
    as=(sh -c)
  fi
  "${as[@]}" "'$initdb' -D '$base/data' -U postgres --auth=trust >'$base/initdb.log' 2>&1"
  "${as[@]}" "'$pg_ctl' -D '$base/data' -l '$base/server.log' -o \"-p $port -k $base -c listen_addresses=127.0.0.1 -c fsync=off\" -w start >/dev/null"
  PG_THROWAWAY="$base"; PG_CTL="$pg_ctl"; PG_AS=("${as[@]}")
  trap 'stop_throwaway_cluster_if_any' EXIT
  export JIESU_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "started a throwaway PostgreSQL cluster on port $port"
}

stop_throwaway_cluster() {
  "${PG_AS[@]}" "'$PG_CTL' -D '$PG_THROWAWAY/data' -m fast stop >/dev/null 2>&1" || true
  rm -rf "$PG_THROWAWAY"
}

ensure_postgres() {
  [ -n "${JIESU_TEST_POSTGRES_URL:-}" ] && return
  if command -v psql >/dev/null 2>&1 && psql "postgres://postgres@127.0.0.1:5432/postgres" -qAtc 'select 1' >/dev/null 2>&1; then
    export JIESU_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    start_throwaway_cluster
  fi
}

stop_throwaway_cluster_if_any() {
  if [ -n "${PG_THROWAWAY:-}" ]; then stop_throwaway_cluster; fi
}
