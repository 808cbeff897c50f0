#!/bin/bash
# Renders /etc/pgbouncer/pgbouncer.ini.template with the environment, then starts
# PgBouncer as the non-root `pgbouncer` user. Clients and the server are both
# authenticated with SCRAM-SHA-256.
#
#   PGBOUNCER_USER, PGBOUNCER_PASSWORD  the login clients use, and PgBouncer uses on the
#                                server; written to a userlist only this user can read
#   PGBOUNCER_AUTH_FILE          instead of the two above: a mounted userlist
#                                (`"user" "SCRAM-SHA-256$..."` lines)
#   PGBOUNCER_DB_HOST            the PostgreSQL server (default: 127.0.0.1)
#   PGBOUNCER_DB_PORT            its port (default: 5432)
#   PGBOUNCER_LISTEN_ADDR        (default: *)     PGBOUNCER_LISTEN_PORT (default: 6432)
#   PGBOUNCER_POOL_MODE          session, transaction or statement (default: transaction)
#   PGBOUNCER_MAX_CLIENT_CONN    (default: 100)   PGBOUNCER_DEFAULT_POOL_SIZE (default: 20)
set -Eeuo pipefail

die() {
	echo "pgbouncer-entrypoint.sh: $*" >&2
	exit 1
}

run=/var/run/pgbouncer

render() {
	: "${PGBOUNCER_DB_HOST:=127.0.0.1}"
	: "${PGBOUNCER_DB_PORT:=5432}"
	: "${PGBOUNCER_LISTEN_ADDR:=*}"
	: "${PGBOUNCER_LISTEN_PORT:=6432}"
	: "${PGBOUNCER_POOL_MODE:=transaction}"
	: "${PGBOUNCER_MAX_CLIENT_CONN:=100}"
	: "${PGBOUNCER_DEFAULT_POOL_SIZE:=20}"
	if [ -n "${PGBOUNCER_PASSWORD:-}" ]; then
		[ -n "${PGBOUNCER_USER:-}" ] || die "PGBOUNCER_PASSWORD is set but PGBOUNCER_USER is not"
		PGBOUNCER_AUTH_FILE=$run/userlist.txt
		# Quotes inside a userlist field are doubled.
		(umask 077 && printf '"%s" "%s"\n' "${PGBOUNCER_USER//\"/\"\"}" "${PGBOUNCER_PASSWORD//\"/\"\"}" >"$PGBOUNCER_AUTH_FILE")
	elif [ -z "${PGBOUNCER_AUTH_FILE:-}" ]; then
		die "set PGBOUNCER_USER and PGBOUNCER_PASSWORD, or mount a userlist and set PGBOUNCER_AUTH_FILE"
	elif [ ! -r "$PGBOUNCER_AUTH_FILE" ]; then
		die "PGBOUNCER_AUTH_FILE=$PGBOUNCER_AUTH_FILE is not a readable file"
	fi
	export PGBOUNCER_DB_HOST PGBOUNCER_DB_PORT PGBOUNCER_LISTEN_ADDR PGBOUNCER_LISTEN_PORT PGBOUNCER_AUTH_FILE \
		PGBOUNCER_POOL_MODE PGBOUNCER_MAX_CLIENT_CONN PGBOUNCER_DEFAULT_POOL_SIZE
	# Only these names are replaced: any other `$` in the template stays as written.
	local variables='${PGBOUNCER_DB_HOST} ${PGBOUNCER_DB_PORT} ${PGBOUNCER_LISTEN_ADDR} ${PGBOUNCER_LISTEN_PORT}
${PGBOUNCER_AUTH_FILE} ${PGBOUNCER_POOL_MODE} ${PGBOUNCER_MAX_CLIENT_CONN} ${PGBOUNCER_DEFAULT_POOL_SIZE}'
	envsubst "$variables" </etc/pgbouncer/pgbouncer.ini.template >"$run/pgbouncer.ini"
}

# Other commands (`pgbouncer --version`, a shell) run without a configuration.
for argument in "$@"; do
	if [ "$argument" = "$run/pgbouncer.ini" ]; then
		render
		break
	fi
done
exec "$@"
