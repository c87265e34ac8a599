#!/bin/bash
# A local Stowage cluster on 127.0.0.1, from Debian's packages: 3 etcd members (the index),
# a Ceph monitor and OSDs (the bytes; bluestore on sparse files, or memstore), and
# stateless `stowage serve` gateways over them. Written from the facts in CLUSTER.md.
#
#   scripts/cluster.sh up DIR        start everything; write DIR/cluster.env; print endpoints
#   scripts/cluster.sh down DIR      stop exactly the processes DIR/cluster.env names; remove DIR
#   scripts/cluster.sh kill DIR KIND N      SIGKILL etcd member / osd / gateway N (1-based)
#   scripts/cluster.sh restart DIR KIND N   start it again on its old data
#
# Environment: STOWAGE_BIN (default .build/debug/stowage), OSDS=3, OBJECTSTORE=bluestore|memstore,
# POOL_SIZE (default min(OSDS,3)), POOL_MIN_SIZE (default size-1, at least 1), GATEWAYS=2,
# BASE_PORT=24000 (etcd clients BASE+1..3, peers BASE+11..13, Ceph monitor BASE+20/21,
# gateways BASE+31..), MAX_TXN_OPS=10000, STOWAGE_ACCESS / STOWAGE_SECRET (credentials).
# Only PIDs whose /proc/PID/cmdline names DIR are ever signalled.
set -euo pipefail

cmd=${1:?usage: cluster.sh up|down|kill|restart DIR ...}
DIR=${2:?usage: cluster.sh $cmd DIR}
mkdir -p "$DIR" 2>/dev/null || true
DIR=$(cd "$DIR" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
# kill and restart use the settings `up` was given (saved in DIR/settings), not whatever
# the environment holds now: a member restarted with another BASE_PORT would join nothing.
if [ "$cmd" != up ] && [ -r "$DIR/settings" ]; then
  # shellcheck disable=SC1091
  . "$DIR/settings"
fi
BIN=${STOWAGE_BIN:-$REPO/.build/debug/stowage}
OSDS=${OSDS:-3}
STORE=${OBJECTSTORE:-bluestore}
SIZE=${POOL_SIZE:-$(( OSDS < 3 ? OSDS : 3 ))}
MIN=${POOL_MIN_SIZE:-$(( SIZE > 1 ? SIZE - 1 : 1 ))}
GATEWAYS=${GATEWAYS:-2}
BASE=${BASE_PORT:-24000}
MAX_TXN_OPS=${MAX_TXN_OPS:-10000}
DELETION_GRACE=${DELETION_GRACE:-30}
ACCESS=${STOWAGE_ACCESS:-stowage-cluster}
SECRET=${STOWAGE_SECRET:-stowage-cluster-secret}
POOL=stowage
CONF=$DIR/ceph/ceph.conf
say() { echo "[cluster $(date +%T)] $*" >&2; }
ceph_() { ceph -c "$CONF" --connect-timeout 15 "$@"; }

pid_of() { cat "$DIR/pids/$1" 2>/dev/null || true; }
ours() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$DIR"; }
signal_() { local pid; pid=$(pid_of "$2"); if ours "$pid"; then kill "-$1" "$pid" 2>/dev/null || true; fi; }
wait_gone() { local pid; pid=$(pid_of "$1"); for _ in $(seq 100); do ours "$pid" || return 0; sleep 0.1; done; }

etcd_cluster() { local c=""; for i in 1 2 3; do c+="${c:+,}m$i=http://127.0.0.1:$((BASE + 10 + i))"; done; echo "$c"; }
etcd_endpoints() { local e=""; for i in 1 2 3; do e+="${e:+,}http://127.0.0.1:$((BASE + i))"; done; echo "$e"; }

start_etcd() {   # member i; `new` on the first start, `existing` data otherwise
  local i=$1
  # sh writes its own PID and execs etcd: the file holds etcd's PID. No ETCD_* variables
  # are set here: etcd reads every one of them as a flag.
  setsid sh -c 'echo $$ > "$0"; exec "$@"' "$DIR/pids/etcd$i" \
    etcd --name "m$i" --data-dir "$DIR/etcd/m$i" --logger zap --log-outputs stderr \
      --listen-client-urls "http://127.0.0.1:$((BASE + i))" --advertise-client-urls "http://127.0.0.1:$((BASE + i))" \
      --listen-peer-urls "http://127.0.0.1:$((BASE + 10 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((BASE + 10 + i))" \
      --initial-cluster "$(etcd_cluster)" --initial-cluster-token "stowage-$BASE" --initial-cluster-state new \
      --max-txn-ops "$MAX_TXN_OPS" --max-request-bytes 10485760 --quota-backend-bytes 2147483648 \
      --auto-compaction-mode periodic --auto-compaction-retention 5m \
      >>"$DIR/logs/etcd$i.log" 2>&1 < /dev/null &
}

start_osd() {   # OSD id (0-based)
  ceph-osd -c "$CONF" -i "$1" 2>>"$DIR/logs/osd-start.log"
  for _ in $(seq 50); do [ -s "$DIR/ceph/run/osd.$1.pid" ] && break; sleep 0.1; done
  cp "$DIR/ceph/run/osd.$1.pid" "$DIR/pids/osd$(( $1 + 1 ))"
}

start_gateway() {   # gateway n (1-based)
  local n=$1
  local port=$((BASE + 30 + n))
  setsid sh -c 'echo $$ > "$0"; exec "$@"' "$DIR/pids/gateway$n" \
    "$BIN" serve --etcd "$(etcd_endpoints)" --etcd-max-txn-ops "$MAX_TXN_OPS" --ceph-conf "$CONF" --rados-pool "$POOL" \
      --address 127.0.0.1 --port "$port" --access-key "$ACCESS" --secret-key "$SECRET" --deletion-grace "$DELETION_GRACE" \
      --master-key-file "$DIR/master.key" \
      >>"$DIR/logs/gateway$n.log" 2>&1 < /dev/null &
  for _ in $(seq 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/-/ready" && return 0   # readiness: etcd and RADOS answered
    sleep 0.1
  done
  say "gateway $n did not answer"; tail -20 "$DIR/logs/gateway$n.log" >&2; return 1
}

up() {
  [ -e "$DIR/cluster.env" ] && { echo "$DIR already holds a cluster: run down first" >&2; exit 1; }
  [ -x "$BIN" ] || { echo "no stowage binary at $BIN (set STOWAGE_BIN)" >&2; exit 1; }
  local t0; t0=$(date +%s%N)
  mkdir -p "$DIR"/{pids,logs,etcd,ceph/run,ceph/mon.a}
  cat > "$DIR/settings" <<SETTINGS
STOWAGE_BIN='$BIN'
BASE_PORT=$BASE
MAX_TXN_OPS=$MAX_TXN_OPS
DELETION_GRACE=$DELETION_GRACE
OBJECTSTORE=$STORE
STOWAGE_ACCESS='$ACCESS'
STOWAGE_SECRET='$SECRET'
SETTINGS
  for i in 1 2 3; do start_etcd "$i"; done

  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  local mon="[v2:127.0.0.1:$((BASE + 20)),v1:127.0.0.1:$((BASE + 21))]"
  local store_conf
  if [ "$STORE" = bluestore ]; then
    store_conf="osd objectstore = bluestore
bluestore block create = true
bluestore block size = ${STORE_BYTES:-4294967296}
bluestore block preallocate file = false
osd memory target = 1073741824"
  else
    store_conf="osd objectstore = memstore
memstore device bytes = ${STORE_BYTES:-1073741824}"
  fi
  # chooseleaf type 0 before the monitor's mkfs (one host); public addr only in [osd].
  cat > "$CONF" <<CONF
[global]
fsid = $fsid
mon host = $mon
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/ceph/run
pid file = $DIR/ceph/run/\$name.pid
crash dir = $DIR/ceph/crash
log file = $DIR/logs/ceph-\$name.log
osd pool default size = $SIZE
osd pool default min size = $MIN
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
osd heartbeat interval = 1
osd heartbeat grace = 5
mon warn on insecure global id reclaim allowed = false
[mon]
mon data = $DIR/ceph/mon.\$id
mon data avail crit = 0
mon data avail warn = 0
mon cluster log file = $DIR/logs/ceph-cluster.log
[osd]
osd data = $DIR/ceph/osd.\$id
public addr = 127.0.0.1
cluster addr = 127.0.0.1
osd crush update on start = false
$store_conf
CONF
  say "ceph monitor on $mon"
  monmaptool --create --fsid "$fsid" --addv a "$mon" "$DIR/ceph/monmap" >/dev/null
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/ceph/monmap" --keyring /dev/null
  ceph-mon -c "$CONF" -i a
  for _ in $(seq 60); do ceph_ mon stat >/dev/null 2>&1 && break; sleep 0.5; done
  cp "$DIR/ceph/run/mon.a.pid" "$DIR/pids/mon"
  for n in $(seq "$OSDS"); do
    local uuid id; uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(ceph_ osd new "$uuid")
    mkdir -p "$DIR/ceph/osd.$id"
    say "osd.$id ($STORE)"
    ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" 2>>"$DIR/logs/osd-mkfs.log" || { tail "$DIR/logs/osd-mkfs.log" >&2; exit 1; }
    ceph_ osd crush add "osd.$id" 1.0 root=default >/dev/null 2>&1
    start_osd "$id"
  done

  # etcd is up by now (it starts in about a second); wait for a leader all the same.
  for i in 1 2 3; do
    for _ in $(seq 100); do
      etcdctl --endpoints "127.0.0.1:$((BASE + i))" --dial-timeout 1s --command-timeout 2s endpoint health >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
  for i in 1 2 3; do etcdctl --endpoints "127.0.0.1:$((BASE + i))" endpoint health >/dev/null; done

  for _ in $(seq 120); do
    [ "$(ceph_ osd stat -f json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])' 2>/dev/null)" = "$OSDS" ] && break
    sleep 0.5
  done
  say "pool $POOL: size $SIZE, min_size $MIN"
  ceph_ osd pool create "$POOL" 8 8 replicated >/dev/null 2>&1
  ceph_ osd pool set "$POOL" size "$SIZE" --yes-i-really-mean-it >/dev/null 2>&1
  ceph_ osd pool set "$POOL" min_size "$MIN" >/dev/null 2>&1
  ceph_ osd pool application enable "$POOL" rados >/dev/null 2>&1
  # Ready when a real write is acknowledged (the PGs are active).
  echo ready > "$DIR/probe"
  timeout 120 rados -c "$CONF" -p "$POOL" put _probe "$DIR/probe"
  rados -c "$CONF" -p "$POOL" rm _probe

  # Every gateway seals SSE-S3 and SSE-KMS data keys with the same master key.
  [ -s "$DIR/master.key" ] || (umask 077; openssl rand -hex 32 > "$DIR/master.key")
  local urls=""
  for n in $(seq "$GATEWAYS"); do start_gateway "$n"; urls+="${urls:+,}http://127.0.0.1:$((BASE + 30 + n))"; done
  cat > "$DIR/cluster.env" <<ENV
STOWAGE_ENDPOINTS=$urls
STOWAGE_ACCESS_KEY=$ACCESS
STOWAGE_SECRET_KEY=$SECRET
STOWAGE_ETCD=$(etcd_endpoints)
STOWAGE_CEPH_CONF=$CONF
STOWAGE_RADOS_POOL=$POOL
ETCD_PIDS="$(for i in 1 2 3; do pid_of etcd$i; done | xargs)"
OSD_PIDS="$(for n in $(seq "$OSDS"); do pid_of osd$n; done | xargs)"
GATEWAY_PIDS="$(for n in $(seq "$GATEWAYS"); do pid_of gateway$n; done | xargs)"
MON_PID=$(pid_of mon)
ENV
  say "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $OSDS OSDs ($STORE, pool size $SIZE, min_size $MIN), 3 etcd members, $GATEWAYS gateways"
  echo "S3 endpoints: $urls"
  echo "Access key: $ACCESS   Secret key: $SECRET"
  echo "Environment for scripts: $DIR/cluster.env"
}

down() {
  [ -d "$DIR/pids" ] || { rm -rf "$DIR"; return 0; }
  for f in "$DIR"/pids/gateway*; do [ -e "$f" ] && signal_ TERM "$(basename "$f")"; done
  for f in "$DIR"/pids/gateway*; do [ -e "$f" ] && wait_gone "$(basename "$f")"; done
  for f in "$DIR"/pids/*; do [ -e "$f" ] && signal_ TERM "$(basename "$f")"; done
  for f in "$DIR"/pids/*; do [ -e "$f" ] && wait_gone "$(basename "$f")"; done
  for f in "$DIR"/pids/*; do [ -e "$f" ] && signal_ KILL "$(basename "$f")"; done
  for f in "$DIR"/pids/*; do [ -e "$f" ] && wait_gone "$(basename "$f")"; done
  rm -rf "$DIR"
}

member() {   # KIND N → pid file name
  case "$1" in
    etcd) echo "etcd$2" ;;
    osd) echo "osd$2" ;;
    gateway) echo "gateway$2" ;;
    *) echo "unknown kind $1 (etcd, osd, gateway)" >&2; exit 2 ;;
  esac
}

case "$cmd" in
  up) up ;;
  down) down ;;
  kill) name=$(member "${3:?kind}" "${4:?n}"); signal_ KILL "$name"; wait_gone "$name" ;;
  restart)
    case "${3:?kind}" in
      etcd) start_etcd "${4:?n}"; for _ in $(seq 100); do etcdctl --endpoints "127.0.0.1:$((BASE + $4))" --dial-timeout 1s endpoint health >/dev/null 2>&1 && break; sleep 0.2; done ;;
      osd) start_osd $(( ${4:?n} - 1 )) ;;
      gateway) start_gateway "${4:?n}" ;;
    esac ;;
  *) echo "usage: cluster.sh up|down|kill|restart DIR ..." >&2; exit 2 ;;
esac
