#!/bin/bash
# Starts PostgreSQL as the non-root `postgres` user, configured from the environment:
#
#   POSTGRES_PASSWORD          the superuser's password (required on the first start,
#                              unless POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_USER              the superuser (default: postgres)
#   POSTGRES_DB                a database created on the first start (default: POSTGRES_USER)
#   POSTGRES_HOST_AUTH_METHOD  pg_hba method for TCP clients (default: scram-sha-256)
#   POSTGRES_INITDB_ARGS       extra initdb arguments, split on spaces
#   PGCONF_<SETTING>=<value>   any server setting, e.g. PGCONF_MAX_CONNECTIONS=200
#                              becomes `-c max_connections=200`
#
# On the first start (no $PGDATA/PG_VERSION) it runs initdb, creates POSTGRES_DB, then
# runs /docker-entrypoint-initdb.d/*.sh, *.sql and *.sql.gz in name order against a
# server that listens on its Unix socket only.
set -Eeuo pipefail
shopt -s nullglob

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export PGDATA POSTGRES_USER POSTGRES_DB

die() {
	echo "docker-entrypoint.sh: $*" >&2
	exit 1
}

initialize() {
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		die "set POSTGRES_PASSWORD for the superuser $POSTGRES_USER (or POSTGRES_HOST_AUTH_METHOD=trust, never in production)"
	fi
	mkdir -p "$PGDATA"
	chmod 0700 "$PGDATA"
	local initdb=(initdb --username="$POSTGRES_USER" --encoding=UTF8 --locale=C.UTF-8
		--auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD")
	local pwfile=
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		pwfile=$(mktemp)
		printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
		initdb+=(--pwfile="$pwfile")
	fi
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words.
	"${initdb[@]}" ${POSTGRES_INITDB_ARGS:-}
	[ -z "$pwfile" ] || rm -f "$pwfile"
	# initdb allows TCP from loopback only: allow every address, with the same method.
	printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

	pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait start
	local psql=(psql -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --no-password --no-psqlrc)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname=postgres --set=db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	local script
	for script in /docker-entrypoint-initdb.d/*; do
		case "$script" in
		*.sh) echo "docker-entrypoint.sh: running $script" && bash "$script" ;;
		*.sql) echo "docker-entrypoint.sh: running $script" && "${psql[@]}" --dbname="$POSTGRES_DB" --file="$script" ;;
		*.sql.gz) echo "docker-entrypoint.sh: running $script" && gzip -dc "$script" | "${psql[@]}" --dbname="$POSTGRES_DB" ;;
		*) echo "docker-entrypoint.sh: ignoring $script (not .sh, .sql or .sql.gz)" ;;
		esac
	done
	pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop
}

# `postgres --version`, `--help` and `-C <setting>` print and exit: they need no cluster.
serves() {
	local argument
	for argument in "$@"; do
		case "$argument" in
		-V | --version | -\? | --help | --describe-config | -C*) return 1 ;;
		esac
	done
}

if [ "${1:-}" = postgres ] && serves "$@"; then
	[ -s "$PGDATA/PG_VERSION" ] || initialize
	settings=(-c "listen_addresses=*")
	for name in $(compgen -e | grep '^PGCONF_' || true); do
		setting=${name#PGCONF_}
		settings+=(-c "${setting,,}=${!name}")
	done
	exec "$@" "${settings[@]}"
fi
exec "$@"
