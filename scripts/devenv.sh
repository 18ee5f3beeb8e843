#!/usr/bin/env bash
# scripts/devenv.sh: throwaway PostgreSQL and Redis for `make run` / `make test`.
#
# Everything lives under the repository's .data/ directory (override with
# PYTHORIX_DATA_DIR) and listens on private ports on 127.0.0.1, so it never
# uses, nor collides with, a PostgreSQL or Redis installed on the machine.
#
#   scripts/devenv.sh up     start (or reuse) both services, installing the Debian
#                            packages if needed; prints two `export` lines on stdout:
#                                eval "$(scripts/devenv.sh up)"
#   scripts/devenv.sh env    print the two `export` lines only (starts nothing)
#   scripts/devenv.sh down   stop the services this script started (nothing else)
#
# If DATABASE_URL (or REDIS_URL) is already set, that service is not provisioned:
# `up` only checks that it is reachable and prints the variable back.
#
# Environment:
#   PYTHORIX_DATA_DIR    state directory            (default: <repo>/.data)
#   PYTHORIX_PG_PORT     private PostgreSQL port    (default: 55432)
#   PYTHORIX_REDIS_PORT  private Redis port         (default: 56379)
#
# Only the export lines go to stdout; every other message goes to stderr.
set -euo pipefail
shopt -s inherit_errexit # keep -e inside $(...), where pg_up/redis_up run

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)

DATA_DIR=${PYTHORIX_DATA_DIR:-$REPO_ROOT/.data}
PG_PORT=${PYTHORIX_PG_PORT:-55432}
REDIS_PORT=${PYTHORIX_REDIS_PORT:-56379}

PG_OS_USER=postgres # initdb/postgres refuse to run as root
PG_MAX_CONNECTIONS=400
PG_SHARED_BUFFERS=128MB
LOCK_TIMEOUT=600 # seconds; held across apt-get installs and initdb

log() { printf 'devenv: %s\n' "$*" >&2; }
die() {
	printf 'devenv: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/devenv.sh up|down|env

  up    start (or reuse) the throwaway PostgreSQL and Redis under .data/ and
        print export lines for DATABASE_URL and REDIS_URL:
            eval "$(scripts/devenv.sh up)"
  env   print the export lines only (for services already started by `up`)
  down  stop the PostgreSQL and Redis started by `up`
EOF
}

check_port_var() { # name value
	if [[ ! $2 =~ ^[0-9]{1,5}$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
		die "$1 must be a TCP port number, got '$2'"
	fi
}

# Shell-quote for the `export` lines (eval'd by the caller) and for pg_ctl -o,
# whose value is run through /bin/sh.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

print_exports() { # database_url redis_url
	printf 'export DATABASE_URL=%s\n' "$(sq "$1")"
	printf 'export REDIS_URL=%s\n' "$(sq "$2")"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# next_free_port N: the first port from N upward (within 200) that nothing uses.
next_free_port() {
	local p
	for ((p = $1; p < $1 + 200; p++)); do
		port_in_use "$p" || {
			echo "$p"
			return 0
		}
	done
	return 1
}

# ---------------------------------------------------------------- paths

# set_pg_paths puts PostgreSQL's files under .data/pg, unless the server user
# (postgres, when we run as root) cannot reach that directory because a parent
# is private (a clone under a mode-700 temporary directory, say): then under
# /var/tmp, in a directory named after the data directory, so that every later
# call finds the same one.
set_pg_paths() {
	PG_DIR=$DATA_DIR/pg
	if ((EUID == 0)) && id -u "$PG_OS_USER" >/dev/null 2>&1 &&
		! runuser -u "$PG_OS_USER" -- test -x "$DATA_DIR" 2>/dev/null; then
		PG_DIR=/var/tmp/pythorix-pg-$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-16)
	fi
	PG_DATA=$PG_DIR/data
	PG_RUN=$PG_DIR/run
	PG_LOG=$PG_DIR/postgres.log
}

resolve_paths() {
	# Make the data dir absolute (a relative PYTHORIX_DATA_DIR is relative to
	# the caller's cwd) and create it.
	mkdir -p -- "$DATA_DIR"
	DATA_DIR=$(cd -- "$DATA_DIR" && pwd -P)
	set_pg_paths
	REDIS_DIR=$DATA_DIR/redis
	REDIS_PIDFILE=$REDIS_DIR/redis.pid
	REDIS_PORTFILE=$REDIS_DIR/redis.port
	REDIS_LOG=$REDIS_DIR/redis.log
	LOCK_FILE=$DATA_DIR/.devenv.lock
	# Keep the state out of git without touching the repository's .gitignore.
	[[ -e $DATA_DIR/.gitignore ]] || printf '*\n' >"$DATA_DIR/.gitignore" 2>/dev/null || true
}

take_lock() {
	# fd 9 holds the lock until we exit; daemons are started with 9>&- so
	# they do not inherit (and keep holding) it.
	exec 9>>"$LOCK_FILE"
	if ! flock -n 9; then
		log "another devenv.sh is running; waiting for $LOCK_FILE"
		flock -w "$LOCK_TIMEOUT" 9 || die "timed out after ${LOCK_TIMEOUT}s waiting for $LOCK_FILE"
	fi
}

# ---------------------------------------------------------------- packages

APT_UPDATED=0
apt_install() { # packages...
	if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
		return 1
	fi
	if ((!APT_UPDATED)); then
		log "apt-get update"
		apt-get -o DPkg::Lock::Timeout=300 update >&2 || return 1
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@" </dev/null >&2
}

# ---------------------------------------------------------------- PostgreSQL

PG_BIN=
# Sets PG_BIN to /usr/lib/postgresql/<version>/bin: the version the data dir was
# created with if there is one, else the highest installed. Returns 1 if none.
find_pg_bin() {
	local want='' dir best='' v
	[[ -f $PG_DATA/PG_VERSION ]] && want=$(<"$PG_DATA/PG_VERSION")
	if [[ -n $want ]]; then
		dir=/usr/lib/postgresql/$want/bin
		if [[ -x $dir/pg_ctl && -x $dir/postgres ]]; then
			PG_BIN=$dir
			return 0
		fi
	fi
	v=$(for dir in /usr/lib/postgresql/*/bin; do
		if [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]]; then
			basename -- "${dir%/bin}"
		fi
	done | sort -V | tail -n 1)
	[[ -n $v ]] || return 1
	best=/usr/lib/postgresql/$v/bin
	if [[ -n $want ]]; then
		die "$PG_DATA was created by PostgreSQL $want but only PostgreSQL $v is installed;" \
			"install postgresql-$want, or run '$0 down' and delete $PG_DIR to start afresh"
	fi
	PG_BIN=$best
}

ensure_pg_bin() {
	find_pg_bin && return 0
	log "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; installing the Debian package"
	if apt_install postgresql && find_pg_bin; then
		return 0
	fi
	die "PostgreSQL server not available and could not be installed (needs root and apt-get)." \
		"Install it (Debian/Ubuntu: 'apt-get install postgresql'), or set DATABASE_URL to an existing server."
}

# Runs a PostgreSQL binary as the unprivileged user (root) or as ourselves.
pg_as() {
	if ((EUID == 0)); then
		(cd -- "$PG_DIR" && runuser -u "$PG_OS_USER" -- "$@")
	else
		(cd -- "$PG_DIR" && "$@")
	fi
}

pg_ctl_status() { # 0 running, 3 not running, 4 no usable data dir
	local rc=0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 || rc=$?
	return "$rc"
}

# Port the running server listens on (line 4 of postmaster.pid).
pg_running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_url() { printf 'postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable' "$1"; }

prepare_pg_dirs() {
	mkdir -p -- "$PG_DIR" "$PG_RUN"
	if ((EUID != 0)); then
		[[ -w $PG_DIR && -w $PG_RUN ]] || die "$PG_DIR is not writable by $(id -un) (created by root?); run as root or delete it"
		return 0
	fi
	if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
		log "creating system user $PG_OS_USER"
		useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
			--shell /usr/sbin/nologin --comment 'PostgreSQL administrator' "$PG_OS_USER" ||
			die "could not create the system user $PG_OS_USER"
	fi
	# The server user must be able to reach .data/pg: .data itself may have
	# been created with a restrictive umask. If a parent stays private, the
	# files move to /var/tmp (set_pg_paths) now that the user surely exists.
	chmod go+x -- "$DATA_DIR"
	local before=$PG_DIR
	set_pg_paths
	if [[ $PG_DIR != "$before" ]]; then
		log "$DATA_DIR is not reachable by $PG_OS_USER; keeping PostgreSQL's files in $PG_DIR"
		mkdir -p -- "$PG_DIR" "$PG_RUN"
	fi
	chown "$PG_OS_USER:" -- "$PG_DIR" "$PG_RUN"
	chmod 755 -- "$PG_DIR" "$PG_RUN"
	if [[ -e $PG_DATA && $(stat -c %U -- "$PG_DATA") != "$PG_OS_USER" ]]; then
		chown -R "$PG_OS_USER:" -- "$PG_DATA"
	fi
	# pg_ctl -l opens the log as the server user; we append initdb output to it.
	touch -- "$PG_LOG"
	chown "$PG_OS_USER:" -- "$PG_LOG"
	runuser -u "$PG_OS_USER" -- test -w "$PG_DIR" -a -x "$PG_DIR" ||
		die "user $PG_OS_USER cannot write to $PG_DIR: every parent directory must be traversable (o+x);" \
			"set PYTHORIX_DATA_DIR to a directory elsewhere"
}

pg_initdb() {
	[[ -f $PG_DATA/PG_VERSION ]] && return 0
	[[ -e $PG_DATA ]] && [[ -n $(ls -A -- "$PG_DATA") ]] &&
		die "$PG_DATA exists but is not a PostgreSQL data directory; delete it"
	local tmp=$PG_DIR/data.initdb locale=C
	if locale -a 2>/dev/null | grep -qixE 'c\.utf-?8'; then
		locale=C.UTF-8
	fi
	while :; do
		rm -rf -- "$tmp"
		log "initdb $PG_DATA (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), locale $locale)"
		if pg_as "$PG_BIN/initdb" -D "$tmp" --auth=trust --username=postgres --encoding=UTF8 \
			--locale="$locale" >>"$PG_LOG" 2>&1; then
			break
		fi
		if [[ $locale != C ]]; then
			log "initdb with locale $locale failed; retrying with locale C"
			locale=C
			continue
		fi
		tail -n 20 -- "$PG_LOG" >&2 || true
		rm -rf -- "$tmp"
		die "initdb failed (log: $PG_LOG)"
	done
	# Only a complete data directory ever appears at $PG_DATA.
	rm -rf -- "$PG_DATA"
	mv -- "$tmp" "$PG_DATA"
}

pg_start() {
	local sockdir=$PG_RUN
	# A unix socket path is limited to 107 bytes; fall back to TCP only.
	if ((${#sockdir} + ${#PG_PORT} + 10 > 107)); then
		log "warning: $sockdir is too long for a unix socket; PostgreSQL will listen on TCP only"
		sockdir=
	fi
	if port_in_use "$PG_PORT"; then
		[[ -z ${PYTHORIX_PG_PORT:-} ]] ||
			die "port $PG_PORT on 127.0.0.1 is already used by another process; set PYTHORIX_PG_PORT to a free port"
		# The default port is taken (another checkout, a stale instance): take the next free one.
		PG_PORT=$(next_free_port $((PG_PORT + 1))) || die "no free port near $PG_PORT; set PYTHORIX_PG_PORT"
		log "default port taken; using $PG_PORT"
	fi
	log "starting PostgreSQL on 127.0.0.1:$PG_PORT (data $PG_DATA, log $PG_LOG)"
	local opts
	opts="-c listen_addresses=127.0.0.1 -p $PG_PORT -k $(sq "$sockdir")"
	opts+=" -c max_connections=$PG_MAX_CONNECTIONS -c shared_buffers=$PG_SHARED_BUFFERS"
	# The lock fd must not leak into the server, or it would hold the lock forever.
	if ! pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o "$opts" start \
		</dev/null >&2 9>&-; then
		tail -n 20 -- "$PG_LOG" >&2 || true
		die "PostgreSQL did not start (log: $PG_LOG)"
	fi
	"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 30 ||
		die "PostgreSQL started but does not answer on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
}

# Prints the DATABASE_URL of the provisioned server, starting it if needed.
pg_up() {
	ensure_pg_bin
	prepare_pg_dirs
	pg_initdb
	local rc=0
	pg_ctl_status || rc=$?
	if ((rc == 0)); then
		local port
		port=$(pg_running_port)
		[[ -n $port ]] || port=$PG_PORT
		if [[ $port != "$PG_PORT" ]]; then
			log "warning: PostgreSQL is already running on port $port (not $PG_PORT); keeping it"
		fi
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 ||
			die "PostgreSQL ($PG_DATA) is running but does not answer on 127.0.0.1:$port (log: $PG_LOG)"
		log "PostgreSQL already running on 127.0.0.1:$port"
		pg_url "$port"
		return 0
	fi
	pg_start
	pg_url "$PG_PORT"
}

pg_down() {
	if [[ ! -f $PG_DATA/PG_VERSION ]]; then
		log "PostgreSQL: no data directory at $PG_DATA; nothing to stop"
		return 0
	fi
	if ! find_pg_bin; then
		[[ -f $PG_DATA/postmaster.pid ]] && die "cannot stop PostgreSQL in $PG_DATA: its binaries are gone"
		return 0
	fi
	local rc=0
	pg_ctl_status || rc=$?
	if ((rc != 0)); then
		log "PostgreSQL ($PG_DATA) is not running"
		return 0
	fi
	log "stopping PostgreSQL ($PG_DATA)"
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 60 stop -m fast </dev/null >&2 ||
		die "could not stop PostgreSQL ($PG_DATA; log: $PG_LOG)"
}

pg_check_url() { # url
	local url=$1 tool='' dir
	for tool in pg_isready psql; do
		command -v "$tool" >/dev/null 2>&1 && break
		for dir in /usr/lib/postgresql/*/bin; do
			if [[ -x $dir/$tool ]]; then
				tool=$dir/$tool
				break 2
			fi
		done
		tool=''
	done
	case $tool in
	'')
		log "warning: neither pg_isready nor psql is installed (package postgresql-client); not checking DATABASE_URL"
		;;
	*pg_isready)
		"$tool" -q -d "$url" -t 10 ||
			die "DATABASE_URL is set but that server is not reachable (pg_isready failed); start it, fix DATABASE_URL, or unset it to get a provisioned one"
		;;
	*)
		"$tool" "$url" -X -A -t -q -c 'select 1' >/dev/null ||
			die "DATABASE_URL is set but that server is not reachable (psql failed); start it, fix DATABASE_URL, or unset it to get a provisioned one"
		;;
	esac
	log "using DATABASE_URL from the environment"
}

# ---------------------------------------------------------------- Redis

redis_url() { printf 'redis://127.0.0.1:%s/0' "$1"; }

# Ping host:port; redis-cli if installed, else raw RESP over /dev/tcp.
redis_ping() { # host port
	local reply=''
	if command -v redis-cli >/dev/null 2>&1; then
		reply=$(timeout 5 redis-cli -h "$1" -p "$2" ping 2>/dev/null) || true
		[[ $reply == PONG ]]
		return
	fi
	reply=$(
		exec 2>/dev/null
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf 'PING\r\n' >&3
		IFS= read -r -t 5 line <&3 || exit 1
		printf '%s' "$line"
	) || return 1
	[[ $reply == +PONG* ]]
}

# PID of the Redis started by this script, if it is alive: the pidfile must
# name a redis-server process whose cwd is our .data/redis, so a reused PID
# (or any other Redis) is never taken for ours.
redis_our_pid() {
	local pid cwd
	[[ -f $REDIS_PIDFILE ]] || return 1
	pid=$(<"$REDIS_PIDFILE")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] || return 1
	cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || cwd=''
	[[ -z $cwd || $cwd == "$REDIS_DIR" ]] || return 1
	printf '%s\n' "$pid"
}

redis_running_port() {
	local port=''
	[[ -f $REDIS_PORTFILE ]] && port=$(<"$REDIS_PORTFILE")
	[[ $port =~ ^[0-9]+$ ]] || port=$REDIS_PORT
	printf '%s\n' "$port"
}

ensure_redis_bin() {
	command -v redis-server >/dev/null 2>&1 && return 0
	log "redis-server not found; installing the Debian package"
	if apt_install redis-server && command -v redis-server >/dev/null 2>&1; then
		return 0
	fi
	die "redis-server not available and could not be installed (needs root and apt-get)." \
		"Install it (Debian/Ubuntu: 'apt-get install redis-server'), or set REDIS_URL to an existing server."
}

# Prints the REDIS_URL of the provisioned server, starting it if needed.
redis_up() {
	local pid port
	if pid=$(redis_our_pid); then
		port=$(redis_running_port)
		[[ $port == "$REDIS_PORT" ]] || log "warning: Redis is already running on port $port (not $REDIS_PORT); keeping it"
		redis_ping 127.0.0.1 "$port" || die "Redis (pid $pid) is running but does not answer on 127.0.0.1:$port (log: $REDIS_LOG)"
		log "Redis already running on 127.0.0.1:$port (pid $pid)"
		redis_url "$port"
		return 0
	fi
	if redis_ping 127.0.0.1 "$REDIS_PORT"; then
		log "a Redis already answers on 127.0.0.1:$REDIS_PORT (not started by this script, 'down' will not stop it); using it"
		redis_url "$REDIS_PORT"
		return 0
	fi
	if port_in_use "$REDIS_PORT"; then
		[[ -z ${PYTHORIX_REDIS_PORT:-} ]] ||
			die "port $REDIS_PORT on 127.0.0.1 is already used by another process; set PYTHORIX_REDIS_PORT to a free port"
		REDIS_PORT=$(next_free_port $((REDIS_PORT + 1))) || die "no free port near $REDIS_PORT; set PYTHORIX_REDIS_PORT"
		log "default port taken; using $REDIS_PORT"
	fi
	ensure_redis_bin
	mkdir -p -- "$REDIS_DIR"
	rm -f -- "$REDIS_PIDFILE"
	log "starting Redis on 127.0.0.1:$REDIS_PORT (dir $REDIS_DIR, log $REDIS_LOG)"
	# The lock fd must not leak into the daemon, or it would hold the lock forever.
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
		--save "" --appendonly no --dir "$REDIS_DIR" \
		--pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" </dev/null >&2 9>&- ||
		die "redis-server failed to start (log: $REDIS_LOG)"
	printf '%s\n' "$REDIS_PORT" >"$REDIS_PORTFILE"
	local i
	for ((i = 0; i < 100; i++)); do
		redis_ping 127.0.0.1 "$REDIS_PORT" && {
			redis_url "$REDIS_PORT"
			return 0
		}
		sleep 0.1
	done
	tail -n 20 -- "$REDIS_LOG" >&2 || true
	die "Redis did not answer on 127.0.0.1:$REDIS_PORT within 10s (log: $REDIS_LOG)"
}

redis_down() {
	local pid i
	if ! pid=$(redis_our_pid); then
		log "Redis ($REDIS_DIR) is not running"
		rm -f -- "$REDIS_PIDFILE"
		return 0
	fi
	log "stopping Redis (pid $pid)"
	# SIGTERM = graceful shutdown; with save "" and appendonly no nothing is written.
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || {
			rm -f -- "$REDIS_PIDFILE"
			return 0
		}
		sleep 0.1
	done
	die "Redis (pid $pid) did not stop within 10s"
}

redis_check_url() { # url
	local url=$1 hostport host port
	if command -v redis-cli >/dev/null 2>&1; then
		local tls=()
		[[ $url == rediss://* ]] && tls=(--tls)
		[[ $(timeout 10 redis-cli "${tls[@]}" -u "$url" ping 2>/dev/null) == PONG ]] ||
			die "REDIS_URL is set but that server does not answer PING (redis-cli); start it, fix REDIS_URL, or unset it to get a provisioned one"
	else
		hostport=${url#*://}
		hostport=${hostport%%/*}
		hostport=${hostport##*@}
		if [[ $hostport == \[*\]* ]]; then # [ipv6]:port
			host=${hostport%%]*}
			host=${host#[}
			port=${hostport##*]}
			port=${port#:}
		else
			host=${hostport%%:*}
			port=${hostport#"$host"}
			port=${port#:}
		fi
		[[ -n $host ]] || host=127.0.0.1
		[[ -n $port ]] || port=6379
		if [[ $url == rediss://* ]]; then
			port_in_use_at "$host" "$port" ||
				die "REDIS_URL is set but nothing listens on $host:$port; start it, fix REDIS_URL, or unset it"
		else
			redis_ping "$host" "$port" ||
				die "REDIS_URL is set but $host:$port does not answer PING; start it, fix REDIS_URL, or unset it to get a provisioned one"
		fi
	fi
	log "using REDIS_URL from the environment"
}

port_in_use_at() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ---------------------------------------------------------------- commands

cmd_up() {
	local db_url redis_url_
	resolve_paths
	take_lock
	if [[ -n ${DATABASE_URL:-} ]]; then
		pg_check_url "$DATABASE_URL"
		db_url=$DATABASE_URL
	else
		db_url=$(pg_up)
	fi
	if [[ -n ${REDIS_URL:-} ]]; then
		redis_check_url "$REDIS_URL"
		redis_url_=$REDIS_URL
	else
		redis_url_=$(redis_up)
	fi
	print_exports "$db_url" "$redis_url_"
}

cmd_env() {
	local db_url redis_url_ port rc
	resolve_paths
	if [[ -n ${DATABASE_URL:-} ]]; then
		db_url=$DATABASE_URL
	else
		port=$PG_PORT rc=1
		if [[ -f $PG_DATA/PG_VERSION ]] && find_pg_bin; then
			rc=0
			pg_ctl_status || rc=$?
		fi
		if ((rc == 0)); then
			port=$(pg_running_port)
			[[ -n $port ]] || port=$PG_PORT
		else
			log "warning: the provisioned PostgreSQL is not running; run '$0 up'"
		fi
		db_url=$(pg_url "$port")
	fi
	if [[ -n ${REDIS_URL:-} ]]; then
		redis_url_=$REDIS_URL
	else
		if redis_our_pid >/dev/null; then
			port=$(redis_running_port)
		else
			port=$REDIS_PORT
			redis_ping 127.0.0.1 "$port" || log "warning: the provisioned Redis is not running; run '$0 up'"
		fi
		redis_url_=$(redis_url "$port")
	fi
	print_exports "$db_url" "$redis_url_"
}

cmd_down() {
	local rc=0
	resolve_paths
	take_lock
	(pg_down) || rc=1
	(redis_down) || rc=1
	return "$rc"
}

main() {
	check_port_var PYTHORIX_PG_PORT "$PG_PORT"
	check_port_var PYTHORIX_REDIS_PORT "$REDIS_PORT"
	case ${1:-} in
	up) cmd_up ;;
	down) cmd_down ;;
	env) cmd_env ;;
	-h | --help | help)
		usage
		exit 0
		;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"
