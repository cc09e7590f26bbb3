#!/usr/bin/env bash
#
# record-demo-capture.sh: records MetaFlow's demo packet capture from real servers and
# clients talking over loopback, together with the workload that produced it.
#
# What it records (tcpdump -i lo -s 0 -U, classic pcap, link type EN10MB on Linux):
#   * HTTP/1.1: nginx on 127.0.0.1:18080 and [::1]:18080, driven by curl: keep-alive
#     connections carrying several requests, single-request connections and IPv6
#     connections, answering 200 (/ and /api/users/<n>), 404 (/missing) and 500 (/error).
#   * Redis (RESP): redis-server on 127.0.0.1:16379 (no persistence), driven by redis-cli:
#     one command per connection and a pipelined batch (redis-cli --pipe), plus several
#     commands on one connection, each awaiting its reply (a small RESP client in bash),
#     including commands answered with errors.
#   * Refused connections: curl to 127.0.0.1:18099, where nothing listens (SYN -> RST).
#   The phases are about one second apart so that the capture spans several seconds.
#
# Outputs (overwritten on success, left untouched on failure):
#   fixtures/captures/demo-loopback.pcap           the capture (must stay under 2 MB)
#   fixtures/captures/demo-loopback.workload.json  the workload as the clients saw it:
#       per protocol and server port the TCP connections opened, requests sent and
#       responses by status (HTTP status codes, Redis ok/error replies), plus the
#       refused connection attempts. Tests compare the agent's numbers with it.
#
# The workload is fixed, so every run produces the same counts; only timestamps,
# client ports, sequence numbers and similar details differ between runs. Before the
# fixtures are written the script checks the capture against the workload (SYN,
# SYN-ACK, FIN and RST per port with tcpdump -r; HTTP status codes with tshark if it
# is installed) and fails if they disagree.
#
# Re-run (Debian/Ubuntu; needs root or CAP_NET_RAW for tcpdump on lo, takes ~10 s):
#   apt-get install tcpdump nginx-light curl redis-server redis-tools iproute2 nodejs
#   sudo scripts/record-demo-capture.sh            # writes to fixtures/captures/
#   OUT_DIR=/tmp/out scripts/record-demo-capture.sh  # writes elsewhere
# The ports 18080, 16379 and 18099 must be free on loopback. Servers run from a private
# temporary directory, bind loopback only, and are stopped on exit, also on error.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${OUT_DIR:-$REPO_ROOT/fixtures/captures}
BASENAME=demo-loopback
HTTP_PORT=18080
REDIS_PORT=16379
CLOSED_PORT=18099
CAPTURE_FILTER="tcp port $HTTP_PORT or tcp port $REDIS_PORT or tcp port $CLOSED_PORT"
MAX_PCAP_BYTES=$((2 * 1024 * 1024))
PHASE_GAP=1 # seconds between phases

# Keep the clients' behaviour independent of the caller's environment.
export LC_ALL=C
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy REDISCLI_AUTH || true

log() { printf '[record-demo-capture] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for cmd in tcpdump nginx redis-server redis-cli curl ss node od; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found (see the header of this script)"
done
((BASH_VERSINFO[0] >= 5)) || die "bash 5 or newer is needed (EPOCHREALTIME)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/metaflow-demo-capture.XXXXXX")
TCPDUMP_PID=''
NGINX_PID=''
REDIS_PID=''

# Stops one process we started: signal, wait up to 5 s, then SIGKILL.
stop_pid() {
  local pid=$1 sig=$2 i
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIG$sig, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$TCPDUMP_PID" INT
  stop_pid "$NGINX_PID" TERM
  stop_pid "$REDIS_PID" TERM
  if ((rc != 0)) && [[ -d $WORK ]]; then
    for f in "$WORK"/tcpdump.err "$WORK"/nginx/error.log "$WORK"/redis/redis.log; do
      [[ -s $f ]] && { log "--- $f"; tail -n 20 "$f" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Lines of `ss` for TCP sockets listening on a port.
listeners() { ss -Hltn "sport = :$1" 2>/dev/null || true; }

# Waits until every given local address (as `ss` prints it, e.g. [::1]:18080) listens.
wait_listening() {
  local pid=$1 port=$2 i addr missing
  shift 2
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || die "server for port $port exited during startup"
    missing=0
    for addr in "$@"; do
      listeners "$port" | awk -v a="$addr" '$4 == a { found = 1 } END { exit !found }' || missing=1
    done
    ((missing == 0)) && return 0
    sleep 0.05
  done
  die "nothing listens on $* after 5 s"
}

for port in "$HTTP_PORT" "$REDIS_PORT" "$CLOSED_PORT"; do
  [[ -z $(listeners "$port") ]] || die "port $port is already in use on this host"
done

# Every event of the workload goes to this file, one line each; the JSON is built from it.
#   http <server-ip> <port> <method> <status> <new-connections>   (one line per request)
#   redis <server-ip> <port> conn | cmd <NAME> | reply ok|error <PREFIX|->
#   refused <server-ip> <port>
#   phase <name> <start-epoch> <end-epoch>
TALLY=$WORK/tally.txt
: >"$TALLY"

# ---------------------------------------------------------------------------- servers

mkdir -p "$WORK/nginx/tmp" "$WORK/redis"
cat >"$WORK/nginx/nginx.conf" <<EOF
# Generated by scripts/record-demo-capture.sh
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    default_type text/plain;
    server_tokens off;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        listen [::1]:$HTTP_PORT;
        server_name demo.metaflow.local;
        location = / { return 200 "MetaFlow demo server\n"; }
        location ~ "^/api/users/([0-9]+)$" {
            default_type application/json;
            return 200 '{"id":\$1,"name":"user-\$1"}\n';
        }
        location = /missing { return 404; }
        location = /error { return 500; }
        location / { return 404; }
    }
}
EOF

log "starting nginx on 127.0.0.1:$HTTP_PORT and [::1]:$HTTP_PORT"
nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' \
  >"$WORK/nginx/stdout.log" 2>&1 &
NGINX_PID=$!

log "starting redis-server on 127.0.0.1:$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
  --save '' --appendonly no --dir "$WORK/redis" --logfile "$WORK/redis/redis.log" \
  --daemonize no >/dev/null 2>&1 &
REDIS_PID=$!

# Readiness is checked with ss, not with requests, so that nothing reaches the servers
# except the recorded workload.
wait_listening "$NGINX_PID" "$HTTP_PORT" "127.0.0.1:$HTTP_PORT" "[::1]:$HTTP_PORT"
wait_listening "$REDIS_PID" "$REDIS_PORT" "127.0.0.1:$REDIS_PORT"

# ---------------------------------------------------------------------------- capture

PCAP_TMP=$WORK/capture.pcap
log "starting tcpdump: $CAPTURE_FILTER"
# -Z root: Debian's tcpdump would otherwise drop to the tcpdump user before writing.
# --immediate-mode: hand every packet over at once so the capture ends with the workload.
tcpdump -i lo -n -s 0 -U --immediate-mode -Z root -w "$PCAP_TMP" "$CAPTURE_FILTER" \
  2>"$WORK/tcpdump.err" &
TCPDUMP_PID=$!
for ((i = 0; i < 100; i++)); do
  grep -q 'listening on' "$WORK/tcpdump.err" 2>/dev/null && break
  kill -0 "$TCPDUMP_PID" 2>/dev/null || die "tcpdump exited: $(cat "$WORK/tcpdump.err")"
  sleep 0.05
done
grep -q 'listening on' "$WORK/tcpdump.err" || die "tcpdump is not listening after 5 s"
LINK_TYPE_NAME=$(sed -n 's/.*link-type \([^ ]*\) .*/\1/p' "$WORK/tcpdump.err" | head -n 1)

# ---------------------------------------------------------------------------- workload

PHASE_NAME=''
PHASE_START=''
phase_begin() { PHASE_NAME=$1; PHASE_START=$EPOCHREALTIME; log "phase $1"; }
phase_end() {
  echo "phase $PHASE_NAME $PHASE_START $EPOCHREALTIME" >>"$TALLY"
  sleep "$PHASE_GAP"
}

# curl_http <host> <GET|POST> <path>...: all paths on one curl command line, so curl
# reuses one keep-alive connection as long as the server keeps it open. Records one
# tally line per request, with the status and whether curl had to open a connection.
curl_http() {
  local host=$1 method=$2 path out rc=0 n
  shift 2
  local args=(-q --silent --show-error --globoff --noproxy '*' --http1.1 --max-time 5
    --write-out 'http %{remote_ip} %{remote_port} %{method} %{http_code} %{num_connects}\n')
  if [[ $method == POST ]]; then
    args+=(--header 'Content-Type: application/json' --data-binary '{"name":"demo"}')
  fi
  for path in "$@"; do
    args+=(--output /dev/null "http://$host:$HTTP_PORT$path")
  done
  out=$(curl "${args[@]}") || rc=$?
  ((rc == 0)) || die "curl to $host failed (exit $rc): $out"
  n=$(grep -c '^http ' <<<"$out" || true)
  ((n == $#)) || die "curl reported $n transfers for $# URLs"
  if grep -qv '^http [^ ]* [0-9]* [A-Z]* [1-5][0-9][0-9] [0-9]*$' <<<"$out"; then
    die "unexpected curl output: $out"
  fi
  printf '%s\n' "$out" >>"$TALLY"
}

# redis_reply_line <line>: one formatted (--no-raw) scalar reply -> tally line.
redis_reply_line() {
  local line=$1 prefix
  if [[ $line == '(error) '* ]]; then
    prefix=${line#'(error) '}
    prefix=${prefix%% *}
    echo "redis 127.0.0.1 $REDIS_PORT reply error $prefix"
  else
    echo "redis 127.0.0.1 $REDIS_PORT reply ok -"
  fi
}

# redis_cmd <word>...: one command on its own connection.
redis_cmd() {
  local out rc=0
  out=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-raw "$@") || rc=$?
  ((rc == 0)) || die "redis-cli $* failed (exit $rc): $out"
  [[ $(wc -l <<<"$out") -eq 1 ]] || die "redis-cli $*: expected a one-line reply, got: $out"
  {
    echo "redis 127.0.0.1 $REDIS_PORT conn"
    echo "redis 127.0.0.1 $REDIS_PORT cmd ${1^^}"
    redis_reply_line "$out"
  } >>"$TALLY"
}

# redis_session <command-line>...: several commands on one connection, each sent after
# the reply to the previous one arrived. This is a small RESP client on bash's /dev/tcp
# rather than `redis-cli <stdin`: redis-cli 7.0 reading commands from stdin first sends
# COMMAND DOCS (a ~170 KB reply, version dependent), which is no part of the workload.
# Every command must have a scalar reply (simple string, error, integer, bulk or nil).
redis_session() {
  local cmd line buf n data fd prefix
  local -a words
  exec {fd}<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || die "cannot connect to redis on port $REDIS_PORT"
  echo "redis 127.0.0.1 $REDIS_PORT conn" >>"$TALLY"
  for cmd in "$@"; do
    read -r -a words <<<"$cmd"
    buf=$(resp_encode "${words[@]}"; echo .) # the dot keeps the final CRLF
    printf '%s' "${buf%.}" >&"$fd"            # one write per command
    echo "redis 127.0.0.1 $REDIS_PORT cmd ${words[0]^^}" >>"$TALLY"
    IFS= read -r -t 5 line <&"$fd" || die "redis session: no reply to '$cmd'"
    line=${line%$'\r'}
    case $line in
      -*)
        prefix=${line#-}
        echo "redis 127.0.0.1 $REDIS_PORT reply error ${prefix%% *}" >>"$TALLY"
        ;;
      [+:]*) echo "redis 127.0.0.1 $REDIS_PORT reply ok -" >>"$TALLY" ;;
      '$'*)
        n=${line#'$'}
        if ((n >= 0)); then
          IFS= read -r -t 5 -N $((n + 2)) data <&"$fd" || die "redis session: short bulk reply to '$cmd'"
        fi
        echo "redis 127.0.0.1 $REDIS_PORT reply ok -" >>"$TALLY"
        ;;
      *) die "redis session: unsupported reply '$line' to '$cmd'" ;;
    esac
  done
  exec {fd}<&-
}

# resp_encode <word>...: one command as a RESP array of bulk strings.
resp_encode() {
  local w
  printf '*%d\r\n' "$#"
  for w in "$@"; do printf '$%d\r\n%s\r\n' "${#w}" "$w"; done
}

# redis_pipe <command-line>...: all commands written at once on one connection
# (redis-cli --pipe). redis-cli appends one ECHO of a random 20-byte marker to learn
# when the last reply has arrived; it is on the wire, so it is counted as a request
# with an ok reply.
redis_pipe() {
  local cmd out rc=0 errors replies line
  local -a words
  : >"$WORK/pipe.in"
  for cmd in "$@"; do
    read -r -a words <<<"$cmd"
    resp_encode "${words[@]}" >>"$WORK/pipe.in"
  done
  out=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --pipe <"$WORK/pipe.in" 2>"$WORK/pipe.err") || rc=$?
  errors=$(sed -n 's/^errors: \([0-9]*\), replies: \([0-9]*\)$/\1/p' <<<"$out")
  replies=$(sed -n 's/^errors: \([0-9]*\), replies: \([0-9]*\)$/\2/p' <<<"$out")
  [[ -n $errors && -n $replies ]] || die "redis-cli --pipe: no summary in: $out"
  ((replies == $#)) || die "redis-cli --pipe: $# commands but $replies replies"
  # --pipe exits 1 when any reply was an error.
  ((rc == 0 || (rc == 1 && errors > 0))) || die "redis-cli --pipe failed (exit $rc)"
  [[ $(grep -c . "$WORK/pipe.err" || true) -eq $errors ]] ||
    die "redis-cli --pipe: $errors errors but stderr: $(cat "$WORK/pipe.err")"
  {
    echo "redis 127.0.0.1 $REDIS_PORT conn"
    for cmd in "$@"; do
      read -r -a words <<<"$cmd"
      echo "redis 127.0.0.1 $REDIS_PORT cmd ${words[0]^^}"
    done
    echo "redis 127.0.0.1 $REDIS_PORT cmd ECHO"
    for ((i = 0; i < replies - errors + 1; i++)); do
      echo "redis 127.0.0.1 $REDIS_PORT reply ok -"
    done
    while IFS= read -r line; do
      [[ -n $line ]] && echo "redis 127.0.0.1 $REDIS_PORT reply error ${line%% *}"
    done <"$WORK/pipe.err"
  } >>"$TALLY"
}

# refused <n>: connection attempts to the closed port; curl exits 7 when refused.
refused() {
  local n=$1 i rc
  for ((i = 0; i < n; i++)); do
    rc=0
    curl -q --silent --noproxy '*' --max-time 5 --output /dev/null \
      "http://127.0.0.1:$CLOSED_PORT/" || rc=$?
    ((rc == 7)) || die "curl to closed port 127.0.0.1:$CLOSED_PORT: exit $rc, expected 7"
    echo "refused 127.0.0.1 $CLOSED_PORT" >>"$TALLY"
    sleep 0.2
  done
}

users() { local i; for ((i = $1; i <= $2; i++)); do echo "/api/users/$i"; done; }

sleep 0.5 # a quiet moment before the first packet

phase_begin http-ipv4-keepalive
mapfile -t paths < <(echo /; users 1 19)
curl_http 127.0.0.1 GET "${paths[@]}" # 20 x 200 on one connection
curl_http 127.0.0.1 GET /api/users/20 /missing /api/users/21 /missing /api/users/22 \
  /missing /api/users/23 /missing /api/users/24 /error # 5 x 200, 4 x 404, 1 x 500
phase_end

phase_begin http-ipv4-single
curl_http 127.0.0.1 GET /
curl_http 127.0.0.1 GET /api/users/42
curl_http 127.0.0.1 POST /api/users/43
curl_http 127.0.0.1 GET /missing
curl_http 127.0.0.1 GET /error
curl_http 127.0.0.1 GET /error
phase_end

phase_begin http-ipv6
# nginx closes the connection after a 500, so curl opens a second one for the rest.
mapfile -t paths < <(echo /; users 50 53; printf '%s\n' /missing /error; users 54 56; echo /missing; users 57 58; echo /missing)
curl_http '[::1]' GET "${paths[@]}" # 10 x 200, 3 x 404, 1 x 500
curl_http '[::1]' GET /api/users/60
curl_http '[::1]' POST /api/users/61
curl_http '[::1]' GET /missing
curl_http '[::1]' GET /missing
curl_http '[::1]' GET /error
phase_end

phase_begin redis-single
redis_cmd SET demo:greeting hello
redis_cmd GET demo:greeting
redis_cmd INCR demo:counter
redis_cmd INCR demo:counter
redis_cmd INCR demo:counter
redis_cmd GET demo:absent
redis_cmd INCR demo:greeting        # ERR value is not an integer or out of range
redis_cmd LPUSH demo:greeting world # WRONGTYPE
redis_cmd NOSUCHCOMMAND demo        # ERR unknown command
redis_cmd PING
phase_end

phase_begin redis-batch
redis_session \
  'SET demo:session:1 active' \
  'EXPIRE demo:session:1 60' \
  'EXISTS demo:session:1' \
  'INCRBY demo:counter 10' \
  'HSET demo:user:1 name alice' \
  'HGET demo:user:1 name' \
  'HINCRBY demo:user:1 name 1' \
  'DEL demo:session:1' \
  'GET demo:session:1' \
  'DBSIZE' # HINCRBY on a text field: ERR hash value is not an integer
pipe_cmds=()
for i in $(seq 1 10); do pipe_cmds+=("RPUSH demo:queue job-$i"); done
for i in $(seq 1 6); do pipe_cmds+=("INCR demo:pipe:counter"); done
pipe_cmds+=('LLEN demo:queue' 'GET demo:queue' 'SET demo:only-a-key')
redis_pipe "${pipe_cmds[@]}" # 2 errors: WRONGTYPE (GET on a list), ERR wrong number of arguments
phase_end

phase_begin refused
refused 3
phase_end

# ---------------------------------------------------------------------------- stop capture

log "stopping tcpdump"
kill -INT "$TCPDUMP_PID"
rc=0
wait "$TCPDUMP_PID" || rc=$?
TCPDUMP_PID=''
((rc == 0)) || die "tcpdump exited with $rc: $(cat "$WORK/tcpdump.err")"
PACKETS=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured$/\1/p' "$WORK/tcpdump.err")
DROPPED=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel$/\1/p' "$WORK/tcpdump.err")
[[ -n $PACKETS && -n $DROPPED ]] || die "no statistics from tcpdump: $(cat "$WORK/tcpdump.err")"
((DROPPED == 0)) || die "the kernel dropped $DROPPED packets"

stop_pid "$NGINX_PID" TERM
NGINX_PID=''
stop_pid "$REDIS_PID" TERM
REDIS_PID=''

# ---------------------------------------------------------------------------- check capture

PCAP_BYTES=$(stat -c %s "$PCAP_TMP")
((PCAP_BYTES < MAX_PCAP_BYTES)) || die "capture is $PCAP_BYTES bytes, limit $MAX_PCAP_BYTES"
[[ $(od -An -t x4 -N 4 "$PCAP_TMP" | tr -d ' ') == a1b2c3d4 ]] ||
  die "capture is not a classic microsecond pcap file"
SNAPLEN=$(od -An -t u4 -j 16 -N 4 "$PCAP_TMP" | tr -d ' ')
LINK_TYPE=$(od -An -t u4 -j 20 -N 4 "$PCAP_TMP" | tr -d ' ')

tcpdump -r "$PCAP_TMP" -n -tt >"$WORK/capture.txt" 2>/dev/null
READ_PACKETS=$(wc -l <"$WORK/capture.txt")
((READ_PACKETS == PACKETS)) || die "tcpdump captured $PACKETS packets but the file has $READ_PACKETS"

# Packets by TCP flags and server port, from tcpdump's one-line summaries:
#   <ts> IP|IP6 <src>.<port> > <dst>.<port>: Flags [<flags>], ...
tcp_summary() {
  awk -v ports="$HTTP_PORT $REDIS_PORT $CLOSED_PORT" '
    BEGIN { n = split(ports, p, " "); for (i = 1; i <= n; i++) server[p[i]] = 1 }
    {
      src = $3; dst = $5; sub(/:$/, "", dst)
      sp = src; sub(/.*\./, "", sp); dp = dst; sub(/.*\./, "", dp)
      if (!match($0, /Flags \[[^]]*\]/)) next
      f = substr($0, RSTART + 7, RLENGTH - 8)
      port = (sp in server) ? sp : dp
      if (f == "S" && (dp in server)) syn[dp]++
      if (f == "S." && (sp in server)) synack[sp]++
      if (f ~ /F/) fin[port]++
      if (f ~ /R/ && (sp in server)) rst_from_server[sp]++
      if (f ~ /R/ && (dp in server)) rst_to_server[dp]++
    }
    END {
      for (i = 1; i <= n; i++) {
        q = p[i]
        printf "%s %d %d %d %d %d\n", q, syn[q], synack[q], fin[q], rst_from_server[q], rst_to_server[q]
      }
    }' "$WORK/capture.txt"
}

count_tally() { awk "$1" "$TALLY"; }
HTTP_CONNS=$(count_tally '$1 == "http" { n += $6 } END { print n + 0 }')
REDIS_CONNS=$(count_tally '$1 == "redis" && $4 == "conn" { n++ } END { print n + 0 }')
REFUSED=$(count_tally '$1 == "refused" { n++ } END { print n + 0 }')

while read -r port syn synack fin rst_from rst_to; do
  case $port in
    "$HTTP_PORT") conns=$HTTP_CONNS refused_here=0 ;;
    "$REDIS_PORT") conns=$REDIS_CONNS refused_here=0 ;;
    *) conns=0 refused_here=$REFUSED ;;
  esac
  log "port $port: SYN $syn, SYN-ACK $synack, FIN $fin, RST from/to server $rst_from/$rst_to"
  ((syn == conns + refused_here)) || die "port $port: $syn SYNs, workload has $((conns + refused_here)) attempts"
  ((synack == conns)) || die "port $port: $synack SYN-ACKs, workload has $conns connections"
  ((fin == 2 * conns)) || die "port $port: $fin FINs, expected $((2 * conns)) (both sides of $conns connections)"
  ((rst_from == refused_here && rst_to == 0)) || die "port $port: unexpected RSTs ($rst_from from, $rst_to to the server)"
done < <(tcp_summary)

if command -v tshark >/dev/null 2>&1; then
  seen=$(tshark -r "$PCAP_TMP" -d "tcp.port==$HTTP_PORT,http" -Y http.response \
    -T fields -e http.response.code 2>/dev/null | sort | uniq -c | awk '{ print $2 ":" $1 }' | paste -sd ' ')
  want=$(count_tally '$1 == "http" { n[$5]++ } END { for (c in n) print c ":" n[c] }' | sort | paste -sd ' ')
  [[ $seen == "$want" ]] || die "tshark sees HTTP statuses '$seen', workload has '$want'"
  log "tshark: HTTP responses by status match ($seen)"
else
  log "tshark not installed: HTTP status codes not checked against the capture"
fi

# ---------------------------------------------------------------------------- write outputs

NGINX_VERSION=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')
REDIS_VERSION=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
CURL_VERSION=$(curl --version | sed -n '1s/^curl \([^ ]*\).*/\1/p')
REDIS_CLI_VERSION=$(redis-cli --version | sed -n 's/^redis-cli \([^ ]*\).*/\1/p')
TCPDUMP_VERSION=$(tcpdump --version 2>&1 | sed -n '1s/^tcpdump version \([^ ]*\).*/\1/p')

export TALLY PCAP_BYTES PACKETS SNAPLEN LINK_TYPE LINK_TYPE_NAME CAPTURE_FILTER BASENAME \
  HTTP_PORT REDIS_PORT CLOSED_PORT NGINX_VERSION REDIS_VERSION CURL_VERSION \
  REDIS_CLI_VERSION TCPDUMP_VERSION
node - >"$WORK/workload.json" <<'EOF'
'use strict';
const fs = require('fs');
const env = process.env;
const lines = fs.readFileSync(env.TALLY, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' '));
const inc = (obj, key, by = 1) => { obj[key] = (obj[key] || 0) + by; };
const sorted = (obj) => Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const counters = () => ({ tcp_connections: 0, requests: 0, responses: 0, responses_by_status: {} });

const http = { protocol: 'http', server: `nginx ${env.NGINX_VERSION}`, client: `curl ${env.CURL_VERSION}`,
  port: Number(env.HTTP_PORT), ...counters(), requests_by_method: {}, by_address: {} };
const redis = { protocol: 'redis', server: `redis-server ${env.REDIS_VERSION}`, client: `redis-cli ${env.REDIS_CLI_VERSION}`,
  port: Number(env.REDIS_PORT), ...counters(), requests_by_command: {}, errors_by_prefix: {}, by_address: {} };
const refused = new Map();
const phases = [];
const at = (server, addr) => (server.by_address[addr] ||= counters());

for (const f of lines) {
  if (f[0] === 'http') {
    const [, addr, , method, status, connects] = f;
    for (const c of [http, at(http, addr)]) {
      c.tcp_connections += Number(connects);
      c.requests += 1;
      c.responses += 1;
      inc(c.responses_by_status, status);
    }
    inc(http.requests_by_method, method);
  } else if (f[0] === 'redis') {
    const [, addr, , what, a, b] = f;
    for (const c of [redis, at(redis, addr)]) {
      if (what === 'conn') c.tcp_connections += 1;
      if (what === 'cmd') c.requests += 1;
      if (what === 'reply') { c.responses += 1; inc(c.responses_by_status, a); }
    }
    if (what === 'cmd') inc(redis.requests_by_command, a);
    if (what === 'reply' && a === 'error') inc(redis.errors_by_prefix, b);
  } else if (f[0] === 'refused') {
    const key = `${f[1]} ${f[2]}`;
    refused.set(key, (refused.get(key) || 0) + 1);
  } else if (f[0] === 'phase') {
    phases.push({ name: f[1], start: Number(f[2]), end: Number(f[3]) });
  } else {
    throw new Error(`bad tally line: ${f.join(' ')}`);
  }
}
for (const s of [http, redis]) {
  s.responses_by_status = sorted(s.responses_by_status);
  for (const a of Object.values(s.by_address)) a.responses_by_status = sorted(a.responses_by_status);
  s.by_address = sorted(s.by_address);
}
http.requests_by_method = sorted(http.requests_by_method);
redis.requests_by_command = sorted(redis.requests_by_command);
redis.errors_by_prefix = sorted(redis.errors_by_prefix);

const refusedList = [...refused].map(([k, n]) => {
  const [address, port] = k.split(' ');
  return { address, port: Number(port), connection_attempts: n, answered_by: 'RST' };
});
const servers = [http, redis];
const out = {
  schema_version: 1,
  description: 'Known workload of demo-loopback.pcap, tallied by scripts/record-demo-capture.sh from what its clients did and got.',
  recorded_at: new Date(phases.length ? phases[0].start * 1000 : Date.now()).toISOString(),
  capture: {
    file: `${env.BASENAME}.pcap`,
    format: 'pcap',
    interface: 'lo',
    link_type: Number(env.LINK_TYPE),
    link_type_name: env.LINK_TYPE_NAME,
    snaplen: Number(env.SNAPLEN),
    filter: env.CAPTURE_FILTER,
    packets: Number(env.PACKETS),
    file_bytes: Number(env.PCAP_BYTES),
    tcpdump: env.TCPDUMP_VERSION,
  },
  servers,
  refused: refusedList,
  totals: {
    tcp_connections: servers.reduce((n, s) => n + s.tcp_connections, 0),
    requests: servers.reduce((n, s) => n + s.requests, 0),
    responses: servers.reduce((n, s) => n + s.responses, 0),
    refused_connection_attempts: refusedList.reduce((n, r) => n + r.connection_attempts, 0),
  },
  phases,
  notes: [
    'tcp_connections counts connections opened (SYN, SYN-ACK, ACK) and closed with FIN by both sides; refused attempts are not included.',
    'nginx closes a keep-alive connection after a 500 response (Connection: close), so curl opens a new one for the remaining URLs.',
    'Redis responses_by_status: "error" is a RESP error reply (-ERR, -WRONGTYPE, ...), "ok" is any other reply, including nil.',
    'redis-cli --pipe sends "\\r\\n" followed by one ECHO of a random 20-byte marker after the batch; that ECHO is counted as a request with an ok reply.',
    'phases: wall-clock epoch seconds (same clock as the pcap timestamps) of each workload phase; phases are about one second apart.',
  ],
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
EOF

mkdir -p "$OUT_DIR"
cp "$PCAP_TMP" "$OUT_DIR/$BASENAME.pcap.tmp"
cp "$WORK/workload.json" "$OUT_DIR/$BASENAME.workload.json.tmp"
chmod 644 "$OUT_DIR/$BASENAME.pcap.tmp" "$OUT_DIR/$BASENAME.workload.json.tmp"
mv -f "$OUT_DIR/$BASENAME.pcap.tmp" "$OUT_DIR/$BASENAME.pcap"
mv -f "$OUT_DIR/$BASENAME.workload.json.tmp" "$OUT_DIR/$BASENAME.workload.json"
log "wrote $OUT_DIR/$BASENAME.pcap ($PACKETS packets, $PCAP_BYTES bytes) and $BASENAME.workload.json"
