#!/bin/bash
# rgw.sh up|down DIR — Ceph's RADOS Gateway as a peer for `make bench-compare`: a monitor,
# one bluestore OSD on a sparse file (pool size 1), and radosgw (Beast) on a free
# loopback port, with the user RGW_ACCESS / RGW_SECRET. `up` prints the endpoint URL on
# stdout (progress on stderr); `down` stops every daemon it started, by the PIDs in DIR,
# and removes DIR. Facts this relies on: /work/shared/CLUSTER.md (auth none needs the
# crc modes in the client section, or radosgw hangs 300 s; Beast needs tcp_nodelay=1).
set -euo pipefail
cmd=${1:?usage: rgw.sh up|down DIR}
DIR=${2:?usage: rgw.sh $cmd DIR}
CONF=$DIR/ceph.conf
say() { echo "[rgw $(date +%T)] $*" >&2; }
c() { ceph -c "$CONF" --connect-timeout 15 "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ours() { [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "$DIR"; }

down() {
  for f in "$DIR"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f"); ours "$pid" && kill "$pid" 2>/dev/null || true
  done
  for f in "$DIR"/run/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 100); do ours "$pid" || break; sleep 0.1; done
    ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$DIR"
}

up() {
  [ -e "$DIR" ] && { echo "$DIR exists: rgw.sh down it first" >&2; exit 1; }
  mkdir -p "$DIR"/{run,log,mon.a,osd.0,rgw}
  local t0 mon_port rgw_port fsid
  t0=$(date +%s)
  mon_port=$(free_port); rgw_port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CONF" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
[mon]
mon data = $DIR/mon.\$id
mon data avail crit = 0
mon data avail warn = 0
[osd]
osd data = $DIR/osd.\$id
public addr = 127.0.0.1
cluster addr = 127.0.0.1
osd crush update on start = false
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
bluestore block preallocate file = false
osd memory target = 1073741824
[client.rgw.bench]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $DIR/rgw
auth client required = none
ms mon client mode = crc
ms client mode = crc
debug rgw = 0/0
debug ms = 0/0
CONF
  say "monitor on 127.0.0.1:$mon_port"
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring /dev/null
  ceph-mon -c "$CONF" -i a
  for _ in $(seq 60); do c mon stat >/dev/null 2>&1 && break; sleep 1; done
  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(c osd new "$uuid")
  say "osd.$id (bluestore)"
  ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" 2>>"$DIR/log/mkfs.log"
  c osd crush add "osd.$id" 1.0 root=default >/dev/null 2>&1
  ceph-osd -c "$CONF" -i "$id" 2>>"$DIR/log/start.log"
  for _ in $(seq 120); do
    c osd stat 2>/dev/null | grep -q "1 up" && break
    sleep 1
  done
  say "radosgw on 127.0.0.1:$rgw_port"
  radosgw -c "$CONF" -n client.rgw.bench
  for _ in $(seq 240); do
    curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" && break
    sleep 0.5
  done
  curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" || { say "radosgw not answering after 120 s"; exit 1; }
  radosgw-admin -c "$CONF" -n client.rgw.bench user create --uid bench --display-name bench \
    --access-key "${RGW_ACCESS:?}" --secret "${RGW_SECRET:?}" >/dev/null
  say "ready in $(( $(date +%s) - t0 )) s"
  echo "http://127.0.0.1:$rgw_port"
}

case $cmd in
  up) up ;;
  down) down ;;
  *) echo "usage: rgw.sh up|down DIR" >&2; exit 2 ;;
esac
