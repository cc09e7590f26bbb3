#!/usr/bin/env bash
# End-to-end smoke test of the live capture: build, start the loader, drive
# nginx (HTTP and HTTPS), curl and redis on loopback, then check the record
# stream and that no program of ours stays loaded. Needs root.
#
#   bash bpf/test/smoke.sh          # output kept in $MF_SMOKE_OUT or a temp dir
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
BPF=$(dirname "$HERE")
OUT=${MF_SMOKE_OUT:-$(mktemp -d /tmp/mf-smoke.XXXXXX)}
mkdir -p "$OUT"
HTTP_PORT=18181
HTTPS_PORT=18443
REDIS_PORT=16380
CURLS=5
# Pre-filter checks (split_traffic.py): messages split across calls, and traffic we do not parse.
MQTT_PORT=18884
DNS_PORT=15354
STRAY_PORT=18185
FOREIGN_PORT=19090
FOREIGN_COUNT=500

say() { echo "smoke: $*"; }
die() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (eBPF and AF_PACKET)"
bash "$BPF/install-deps.sh" --test >"$OUT/deps.log" 2>&1 || die "dependencies: $(tail -1 "$OUT/deps.log")"
for t in nginx curl openssl redis-server redis-cli python3 bpftool; do
  command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || die "missing tool $t"
done
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

say "building"
make -C "$BPF" -j2 >"$OUT/build.log" 2>&1 || die "build failed, see $OUT/build.log"

pids_to_kill=()
cleanup() {
  for p in "${pids_to_kill[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 100); do port_open "$1" && return 0; sleep 0.1; done
  return 1
}

say "starting nginx and redis on 127.0.0.1"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$OUT/key.pem" -out "$OUT/cert.pem" -days 1 \
  -subj /CN=localhost >"$OUT/openssl.log" 2>&1 || die "openssl req failed"
cat >"$OUT/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $OUT/body;
  proxy_temp_path $OUT/proxy;
  fastcgi_temp_path $OUT/fastcgi;
  uwsgi_temp_path $OUT/uwsgi;
  scgi_temp_path $OUT/scgi;
  server {
    listen 127.0.0.1:$HTTP_PORT;
    location / { return 200 "hello from the metaflow smoke test\n"; }
  }
  server {
    listen 127.0.0.1:$HTTPS_PORT ssl;
    ssl_certificate $OUT/cert.pem;
    ssl_certificate_key $OUT/key.pem;
    location / { return 200 "hello over tls\n"; }
  }
}
EOF
"$NGINX" -c "$OUT/nginx.conf" -p "$OUT" >"$OUT/nginx.log" 2>&1 &
NGINX_PID=$!
pids_to_kill+=("$NGINX_PID")
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$OUT" \
  >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
pids_to_kill+=("$REDIS_PID")
wait_port $HTTP_PORT || die "nginx did not listen on $HTTP_PORT ($(tail -2 "$OUT/nginx-error.log"))"
wait_port $HTTPS_PORT || die "nginx did not listen on $HTTPS_PORT"
wait_port $REDIS_PORT || die "redis did not listen on $REDIS_PORT"
NGINX_WORKERS=$(pgrep -d, -P "$NGINX_PID")

say "starting the loader"
"$BPF/build/metaflow-loader" --interfaces lo \
  --filter "tcp port $HTTP_PORT or tcp port $HTTPS_PORT or tcp port $REDIS_PORT" \
  >"$OUT/stream.bin" 2>"$OUT/loader.err" &
LOADER_PID=$!
pids_to_kill+=("$LOADER_PID")
ready=0
for _ in $(seq 300); do
  if grep -aq "ready: active" "$OUT/stream.bin" 2>/dev/null; then ready=1; break; fi
  kill -0 "$LOADER_PID" 2>/dev/null || break
  sleep 0.1
done
[[ $ready -eq 1 ]] || die "loader not ready: $(tail -3 "$OUT/loader.err")"
sleep 0.5
# The kernel objects this loader holds: the leftover check looks for these only, as other
# loaders (another test, an agent) may run on the host at the same time.
cat /proc/"$LOADER_PID"/fdinfo/* 2>/dev/null | grep -E '^(prog_id|map_id):' | sort -u >"$OUT/held.txt"

say "traffic: $CURLS x HTTP, 1 x HTTPS, 1 x redis PING"
CURL_PIDS=()
for _ in $(seq $CURLS); do
  curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" &
  CURL_PIDS+=($!)
  wait $!
done
curl -sk -o /dev/null "https://127.0.0.1:$HTTPS_PORT/" &
HTTPS_PID=$!
wait $HTTPS_PID
redis-cli -h 127.0.0.1 -p $REDIS_PORT PING >"$OUT/redis-cli.out" &
REDIS_CLI_PID=$!
wait $REDIS_CLI_PID

say "traffic: MQTT read byte by byte, DNS over TCP by writev, a stray byte, $FOREIGN_COUNT foreign round trips"
python3 "$HERE/split_traffic.py" --mqtt $MQTT_PORT --dns $DNS_PORT --stray $STRAY_PORT --foreign $FOREIGN_PORT \
  --count $FOREIGN_COUNT >"$OUT/split.out" 2>&1 &
SPLIT_PID=$!
wait $SPLIT_PID || die "split_traffic.py failed: $(tail -3 "$OUT/split.out")"

# Let at least one stats record and one block-retire of the packet ring pass.
sleep 2.5
say "stopping the loader"
kill -INT "$LOADER_PID"
LOADER_RC=0
for _ in $(seq 100); do kill -0 "$LOADER_PID" 2>/dev/null || break; sleep 0.1; done
wait "$LOADER_PID" || LOADER_RC=$?

# Program and map teardown is asynchronous in the kernel: give it a moment.
for _ in $(seq 30); do
  "$BPFTOOL" prog list >"$OUT/progs-after.txt" 2>&1
  "$BPFTOOL" map list >"$OUT/maps-after.txt" 2>&1
  left=0
  while read -r kind id; do
    [[ $kind == prog_id: ]] && f=progs || f=maps
    grep -q "^$id: " "$OUT/$f-after.txt" && { left=1; break; }
  done <"$OUT/held.txt"
  [[ $left -eq 0 ]] && break
  sleep 0.1
done

python3 "$HERE/smoke_check.py" --stream "$OUT/stream.bin" \
  --curl-pids "$(IFS=,; echo "${CURL_PIDS[*]}")" --https-pid "$HTTPS_PID" \
  --nginx-pids "$NGINX_WORKERS" --redis-server-pid "$REDIS_PID" --redis-cli-pid "$REDIS_CLI_PID" \
  --http-port $HTTP_PORT --https-port $HTTPS_PORT --redis-port $REDIS_PORT --curls $CURLS \
  --split-pid "$SPLIT_PID" --mqtt-port $MQTT_PORT --dns-port $DNS_PORT --stray-port $STRAY_PORT \
  --foreign-port $FOREIGN_PORT \
  --foreign-count $FOREIGN_COUNT \
  --held "$OUT/held.txt" --progs-after "$OUT/progs-after.txt" --maps-after "$OUT/maps-after.txt" \
  --loader-rc "$LOADER_RC"
rc=$?
say "artifacts in $OUT"
exit $rc
