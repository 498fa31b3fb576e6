#!/usr/bin/env bash
# deploy-vultr.sh: install or upgrade Quorum on a Debian / Ubuntu VPS (Vultr or any other).
#
# Idempotent: run it again to upgrade (new code, `make install`, units, restart). Runs as
# root. Every command that changes the machine goes through `run`, so `--dry-run` prints
# each action and changes nothing (a dry run may be done as any user; it still reads the
# machine to decide what it would do).
#
#   ./deploy-vultr.sh [--dry-run] [--repo URL] [--branch NAME] [--install-dir DIR]
#                     [--with-redis] [--chat-port PORT] [--ssh-port PORT]
#                     [--env-file FILE]
#
# What it sets up (docs/operations.md has the whole story):
#   user `quorum` (system, no login); python3.11+ (python3.11, else 3.12/3.13), make, gcc,
#   git, rsync, ufw via apt; redis-server with --with-redis; the code in --install-dir
#   (git clone/pull of --repo, else rsync of this checkout); `make install` as quorum;
#   /etc/quorum: master.key (0600, quorum), env.enc (encrypted --env-file), quorum.env,
#   quorum.toml; the systemd units of deploy/ (daemon, chat, backup + timer); ufw (SSH
#   only, plus --chat-port); a journald drop-in; a `quorum` wrapper in /usr/local/bin.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DRY_RUN=0
REPO=""
BRANCH="main"
INSTALL_DIR="/opt/quorum"
WITH_REDIS=0
CHAT_PORT=""
DEPLOY_SRC="$SCRIPT_DIR/deploy"
SSH_PORT="22"
ENV_FILE=""
SERVICE_USER="quorum"
STATE_DIR="/var/lib/quorum"
CONFIG_DIR="/etc/quorum"
UNIT_DIR="/etc/systemd/system"
MIN_REDIS="6.2"
CHANGED=0   # set by put_file when it wrote something

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    printf 'deploy-vultr.sh: error: %s\n' "$*" >&2
    exit 1
}

say() {
    printf '==> %s\n' "$*"
}

# The one place that changes the machine. In a dry run it prints the command instead.
run() {
    if ((DRY_RUN)); then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
        return 0
    fi
    "$@"
}

# put_file MODE OWNER:GROUP DEST, content on stdin. An unchanged file is not rewritten
# (its mode and owner are still set); a written one sets CHANGED=1.
put_file() {
    local mode=$1 owner=$2 dest=$3 content
    content=$(cat)
    if [[ -f $dest ]] && [[ "$(cat "$dest" 2>/dev/null)" == "$content" ]]; then
        run chmod "$mode" "$dest"
        run chown "$owner" "$dest"
        return 0
    fi
    CHANGED=1
    if ((DRY_RUN)); then
        printf '+ write %s (mode %s, %s):\n' "$dest" "$mode" "$owner"
        printf '%s\n' "$content" | sed 's/^/    | /'
        return 0
    fi
    run install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" /dev/stdin "$dest" <<<"$content"
}

as_quorum() {
    run runuser -u "$SERVICE_USER" -- "$@"
}

parse_args() {
    while (($#)); do
        case $1 in
            --dry-run) DRY_RUN=1 ;;
            --repo) REPO=${2:?--repo needs a URL}; shift ;;
            --branch) BRANCH=${2:?--branch needs a name}; shift ;;
            --install-dir) INSTALL_DIR=${2:?--install-dir needs a path}; shift ;;
            --with-redis) WITH_REDIS=1 ;;
            --chat-port) CHAT_PORT=${2:?--chat-port needs a port}; shift ;;
            --ssh-port) SSH_PORT=${2:?--ssh-port needs a port}; shift ;;
            --env-file) ENV_FILE=${2:?--env-file needs a file}; shift ;;
            -h | --help) usage; exit 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
        shift
    done
    [[ $INSTALL_DIR == /* ]] || die "--install-dir must be an absolute path, not $INSTALL_DIR"
    local port
    for port in "$SSH_PORT" ${CHAT_PORT:+"$CHAT_PORT"}; do
        if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
            die "bad port: $port"
        fi
    done
    if [[ -n $ENV_FILE && ! -f $ENV_FILE ]]; then
        die "--env-file $ENV_FILE: no such file"
    fi
}

check_system() {
    # The units are the point of a deploy: without systemd running (a container, WSL
    # without it) a real run would install packages, the user and the code, then stop at
    # the first systemctl, half done. Checked before anything else, root or not.
    # QUORUM_DEPLOY_SYSTEMD_DIR exists for the tests only.
    local systemd_dir=${QUORUM_DEPLOY_SYSTEMD_DIR:-/run/systemd/system}
    if [[ ! -d $systemd_dir ]]; then
        if ((DRY_RUN)); then
            say "warning: systemd is not running here ($systemd_dir is missing): a real run would refuse"
        else
            die "systemd is not running here ($systemd_dir is missing): this script installs systemd units; run it on the VPS itself, not in a container (nothing was changed)"
        fi
    fi
    if ((EUID != 0)); then
        if ((DRY_RUN)); then
            say "dry run as $(id -un), not root: nothing will be changed (a real run needs root)"
        else
            die "run as root (sudo $0 ...), or try --dry-run first"
        fi
    fi
    if [[ -r /etc/os-release ]]; then
        # shellcheck disable=SC1091
        . /etc/os-release
        case ${ID:-} in
            debian | ubuntu) say "system: ${PRETTY_NAME:-$ID}" ;;
            *) say "warning: ${PRETTY_NAME:-unknown system} is not Debian or Ubuntu; going on" ;;
        esac
    fi
    command -v apt-get >/dev/null 2>&1 || ((DRY_RUN)) || die "apt-get not found: Debian or Ubuntu only"
}

apt_has() {
    apt-cache show "$1" >/dev/null 2>&1
}

pick_python() {
    local v
    for v in 3.11 3.12 3.13; do
        if command -v "python$v" >/dev/null 2>&1 || apt_has "python$v-venv"; then
            PYTHON="python$v"
            return 0
        fi
    done
    if ((DRY_RUN)) && ! command -v apt-cache >/dev/null 2>&1; then
        PYTHON="python3.11"
        return 0
    fi
    die "no python 3.11..3.13 in apt; on Ubuntu 22.04: add-apt-repository ppa:deadsnakes/ppa"
}

install_packages() {
    pick_python
    local packages=("$PYTHON" "$PYTHON-venv" "$PYTHON-dev" make gcc git rsync ufw ca-certificates)
    if ((WITH_REDIS)); then
        local candidate
        candidate=$(apt-cache policy redis-server 2>/dev/null | awk '/Candidate:/ {print $2}')
        candidate=${candidate#*:}
        if [[ -n $candidate && $candidate != "(none)" ]] &&
            dpkg --compare-versions "$candidate" lt "$MIN_REDIS"; then
            die "apt's redis-server is $candidate; Quorum's bus needs >= $MIN_REDIS (use packages.redis.io)"
        fi
        packages+=(redis-server)
    fi
    say "packages: ${packages[*]}"
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}

create_user() {
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        say "user $SERVICE_USER exists"
    else
        run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
    run install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR"
    run install -d -m 0750 -o root -g "$SERVICE_USER" "$CONFIG_DIR"
}

install_code() {
    if [[ -n $REPO ]]; then
        if [[ -d $INSTALL_DIR/.git ]]; then
            as_quorum git -C "$INSTALL_DIR" fetch --prune origin "$BRANCH"
            as_quorum git -C "$INSTALL_DIR" checkout -B "$BRANCH" FETCH_HEAD
        else
            if [[ -d $INSTALL_DIR ]] && [[ -n "$(ls -A "$INSTALL_DIR")" ]]; then
                die "$INSTALL_DIR exists and is not a git checkout; move it away or drop --repo"
            fi
            run install -d -m 0755 -o "$SERVICE_USER" -g "$SERVICE_USER" "$INSTALL_DIR"
            as_quorum git clone --branch "$BRANCH" "$REPO" "$INSTALL_DIR"
        fi
    elif [[ $SCRIPT_DIR != "$INSTALL_DIR" ]]; then
        say "copying this checkout ($SCRIPT_DIR) to $INSTALL_DIR"
        run install -d -m 0755 -o "$SERVICE_USER" -g "$SERVICE_USER" "$INSTALL_DIR"
        run rsync -a --delete --exclude .venv/ --exclude var/ --exclude .git/ \
            --exclude __pycache__/ --exclude '*.nbi' --exclude '*.nbc' \
            --chown "$SERVICE_USER:$SERVICE_USER" "$SCRIPT_DIR/" "$INSTALL_DIR/"
    fi
    as_quorum env HOME="$STATE_DIR" make -C "$INSTALL_DIR" install PYTHON="$PYTHON"
    # The units and config come from the code just installed (a dry run on a fresh
    # machine has none there yet: this checkout's).
    if [[ -d $INSTALL_DIR/deploy ]] && ! ((DRY_RUN)); then
        DEPLOY_SRC="$INSTALL_DIR/deploy"
    else
        DEPLOY_SRC="$SCRIPT_DIR/deploy"
    fi
}

write_config() {
    local redis_env=""
    if ((WITH_REDIS)); then
        redis_env=$'QUORUM_BUS__KIND=redis\nQUORUM_BUS__REDIS_URL=redis://127.0.0.1:6379/0'
    fi
    put_file 0640 "root:$SERVICE_USER" "$CONFIG_DIR/quorum.env" <<EOF
# Managed by deploy-vultr.sh (rewritten on every run): the environment of every Quorum
# unit and of the /usr/local/bin/quorum wrapper. Your settings go in quorum.toml.
QUORUM_STATE_DIR=$STATE_DIR
QUORUM_CONFIG=$CONFIG_DIR/quorum.toml
QUORUM_ENV_ENC=$CONFIG_DIR/env.enc
QUORUM_MASTER_KEY_FILE=$CONFIG_DIR/master.key
QUORUM_LOG_FORMAT=json
HOME=$STATE_DIR
NUMBA_CACHE_DIR=$STATE_DIR/cache/numba
MPLCONFIGDIR=$STATE_DIR/cache/matplotlib
PYTHONDONTWRITEBYTECODE=1
$redis_env
EOF
    if [[ ! -f $CONFIG_DIR/quorum.toml ]]; then
        put_file 0640 "root:$SERVICE_USER" "$CONFIG_DIR/quorum.toml" <<'EOF'
# Quorum settings (docs: README "Settings and secrets", docs/operations.md).
# Created once by deploy-vultr.sh; yours to edit. Secrets go in env.enc, not here.
# [schedule]
# exchange = "XNYS"
# timezone = "America/New_York"
# run_at = "16:30"
# [broker]
# kind = "ibkr"            # with IB Gateway beside it (deploy/ib-gateway.service.example)
# [broker.ibkr]
# port = 4002              # IB Gateway paper
# [marketdata]
# providers = ["ibkr", "files"]
EOF
    fi
}

setup_secrets() {
    local quorum="$INSTALL_DIR/.venv/bin/quorum" key="$CONFIG_DIR/master.key"
    if [[ -f $key ]]; then
        say "master key $key exists (kept)"
    else
        run env QUORUM_MASTER_KEY_FILE="$key" "$quorum" secrets keygen --path "$key"
    fi
    run chown "$SERVICE_USER:$SERVICE_USER" "$key"
    run chmod 0600 "$key"
    if [[ -n $ENV_FILE ]]; then
        run env QUORUM_MASTER_KEY_FILE="$key" "$quorum" secrets encrypt "$ENV_FILE" \
            --out "$CONFIG_DIR/env.enc"
        run chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG_DIR/env.enc"
        run chmod 0600 "$CONFIG_DIR/env.enc"
        say "encrypted $ENV_FILE into $CONFIG_DIR/env.enc; delete the plain file: shred -u $ENV_FILE"
    elif [[ ! -f $CONFIG_DIR/env.enc ]]; then
        say "no --env-file: no secrets yet (paper trading, offline reasoning need none)"
    fi
}

install_units() {
    local unit
    for unit in quorum-daemon.service quorum-chat.service quorum-backup.service quorum-backup.timer; do
        [[ -f $DEPLOY_SRC/$unit ]] || die "$DEPLOY_SRC/$unit is missing"
        # put_file in this shell (not a pipeline's subshell) so CHANGED is seen
        put_file 0644 root:root "$UNIT_DIR/$unit" < <(sed "s#/opt/quorum#$INSTALL_DIR#g" "$DEPLOY_SRC/$unit")
    done
    CHANGED=0
    put_file 0644 root:root /etc/systemd/journald.conf.d/quorum.conf <"$DEPLOY_SRC/journald-quorum.conf"
    if ((CHANGED)); then
        run systemctl restart systemd-journald
    fi
    put_file 0755 root:root /usr/local/bin/quorum <<EOF
#!/bin/sh
# quorum as the services run it (user $SERVICE_USER, /etc/quorum/quorum.env). Managed by
# deploy-vultr.sh.
set -a
. $CONFIG_DIR/quorum.env
set +a
cd "$STATE_DIR" || exit 2
if [ "\$(id -u)" -eq 0 ]; then
    exec runuser -u $SERVICE_USER -- "$INSTALL_DIR/.venv/bin/quorum" "\$@"
fi
exec "$INSTALL_DIR/.venv/bin/quorum" "\$@"
EOF
    run systemctl daemon-reload
    if ((WITH_REDIS)); then
        run systemctl enable --now redis-server.service
    fi
    run systemctl enable quorum-daemon.service quorum-backup.timer
    run systemctl restart quorum-daemon.service # stops a running cycle after its step
    run systemctl start quorum-backup.timer
    if [[ -n $CHAT_PORT ]]; then
        run systemctl enable quorum-chat.service
        run systemctl restart quorum-chat.service
    else
        run systemctl disable --now quorum-chat.service
    fi
}

setup_firewall() {
    run ufw default deny incoming
    run ufw default allow outgoing
    run ufw allow "$SSH_PORT/tcp" comment ssh
    if [[ -n $CHAT_PORT ]]; then
        run ufw allow "$CHAT_PORT/tcp" comment quorum-chat
    fi
    run ufw --force enable
}

explain_next_steps() {
    cat <<EOF

Quorum is installed in $INSTALL_DIR, state in $STATE_DIR, settings in $CONFIG_DIR.
  status:   quorum daemon status        (the /usr/local/bin/quorum wrapper)
  logs:     journalctl -u quorum-daemon -f
  health:   curl -s 127.0.0.1:9108/healthz ; metrics: 127.0.0.1:9108/metrics
  backups:  systemctl list-timers quorum-backup.timer ; $STATE_DIR/backups
  upgrade:  run this script again (same options)

IB Gateway beside Quorum (paper port 4002; 4001 is live):
  see $INSTALL_DIR/deploy/ib-gateway.service.example: IB Gateway under Xvfb, started by
  IBC (optional, it logs in and handles the daily restart), as its own user, API on
  127.0.0.1 only. Then set [broker] kind = "ibkr" and [broker.ibkr] port = 4002 in
  $CONFIG_DIR/quorum.toml and: systemctl restart quorum-daemon
EOF
    if [[ -n $CHAT_PORT ]]; then
        cat <<EOF
Chat: ufw allows $CHAT_PORT/tcp. Put a TLS proxy there in front of quorum chat serve
  (127.0.0.1:8090), e.g. Caddy: "your.host:$CHAT_PORT { reverse_proxy 127.0.0.1:8090 }".
EOF
    fi
}

main() {
    parse_args "$@"
    check_system
    install_packages
    create_user
    install_code
    write_config
    setup_secrets
    install_units
    setup_firewall
    explain_next_steps
    if ((DRY_RUN)); then
        say "dry run: nothing was changed"
    fi
}

main "$@"
