#!/usr/bin/env bash
# Delivery benchmark (reported, not asserted): messages/s from Postfix's smtp-source into a
# Maildir, ours (mail-server MX, fsync before 250) against Postfix + Dovecot LMTP (Postfix
# queue fsync, Dovecot mail_fsync = optimized) and against Dovecot LMTP alone (smtp-source
# -L: one hop, as ours), and the memory of idle IMAP connections.
#
#   source PEERS_DIR/peers.env    # peers started with .ci/peers/start-peers.sh
#   [DC_IDLE=200] examples/tests/data/server/bench-delivery.sh [MESSAGES] [SESSIONS] [SIZE] [IDLE]
#
# AUTH_IDLE / AUTH_IDLE_DC: logged-in IDLE sessions measured (200 / 9).
# Needs the release binary (cargo build --release -p examples --bin mail-server; set
# MAIL_SERVER to its path if CARGO_TARGET_DIR is not ./target). Each side delivers to a
# user without a Sieve script. The clock runs from the first connection until the last
# message is in the Maildir (for Postfix + Dovecot that includes the queue and LMTP).
set -euo pipefail
N=${1:-2000}
SESSIONS=${2:-8}
SIZE=${3:-4096}
IDLE=${4:-2000}
: "${PF_RELAY_PORT:?source peers.env first}" "${DC_HOME_BASE:?}" "${PEERS_BASE:=12000}"
BIN=${MAIL_SERVER:-${CARGO_TARGET_DIR:-target}/release/mail-server}
[[ -x $BIN ]] || { echo "no release binary at $BIN" >&2; exit 1; }
PORT=${BENCH_PORT:-$((PEERS_BASE + 640))}
IMAP_PORT=$((PORT + 1))
W=$(mktemp -d /tmp/mail-bench.XXXXXX)
SERVER_PID=
cleanup() { [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

count() { # files in a Maildir's new/ and cur/
  local n=0 d
  for d in "$1/new" "$1/cur"; do [[ -d $d ]] && n=$((n + $(find "$d" -type f | wc -l))); done
  echo $n
}
now() { date +%s.%N; }
wait_for() { # DIR TARGET
  local deadline=$(( $(date +%s) + 600 ))
  while (( $(count "$1") < $2 )); do
    (( $(date +%s) < deadline )) || { echo "timeout waiting for $2 messages in $1" >&2; exit 1; }
    sleep 0.01
  done
}

cat > "$W/mail-server.toml" <<CFG
hostname = "mx.bench.test"
domains = ["bench.test"]
[listeners.mx]
service = "mx"
address = "127.0.0.1:$PORT"
tls = "none"
[listeners.imap]
service = "imap"
address = "127.0.0.1:$IMAP_PORT"
tls = "none"
[limits]
max_connections = 5000
exempt_networks = ["127.0.0.0/8"]
[checks]
spf = false
dkim = false
dmarc = false
arc = false
[log]
level = "warn"
CFG
(cd "$W" && "$BIN" --config mail-server.toml user add bob@bench.test --password pw --scheme PLAIN >/dev/null)
(cd "$W" && exec "$BIN" --config mail-server.toml >"$W/out.log" 2>"$W/err.log") &
SERVER_PID=$!
for _ in $(seq 100); do grep -q "^Stop with" "$W/out.log" 2>/dev/null && break; sleep 0.1; done
OURS="$W/mail-data/users/bench.test/bob/Maildir"

run() { # NAME HOST:PORT RCPT MAILDIR
  local before start end n rate
  before=$(count "$4")
  start=$(now)
  smtp-source ${LMTP:+-L} -s "$SESSIONS" -m "$N" -l "$SIZE" -f bench@bench.test -t "$3" "$2"
  wait_for "$4" $((before + N))
  end=$(now)
  rate=$(echo "$N / ($end - $start)" | bc -l)
  printf '%-22s %6d messages of %d bytes, %2d sessions: %8.1f msg/s (%.2f s)\n' "$1" "$N" "$SIZE" "$SESSIONS" "$rate" "$(echo "$end - $start" | bc -l)"
}

run "mail-server" "127.0.0.1:$PORT" bob@bench.test "$OURS"
# Dovecot starts each run on an empty Maildir, as ours does (its delivery slows down as the
# mailbox and its index grow: a run after earlier runs would be unfair to it).
fresh_dovecot() { rm -rf "$DC_HOME_BASE/bob/Maildir"; }
fresh_dovecot
run "postfix+dovecot-lmtp" "127.0.0.1:$PF_RELAY_PORT" bob@dc.test "$DC_HOME_BASE/bob/Maildir"
# One hop, like ours: smtp-source speaking LMTP straight to Dovecot (no Postfix queue).
fresh_dovecot
LMTP=1 run "dovecot-lmtp (direct)" "127.0.0.1:${DC_LMTP_PORT:?}" bob@dc.test "$DC_HOME_BASE/bob/Maildir"

# Memory of idle IMAP connections: RSS before and with IDLE connections open (greeted,
# not logged in).
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
before=$(rss)
python3 - "$IMAP_PORT" "$IDLE" "$SERVER_PID" "$before" <<'PY'
import socket, sys, time
port, n, pid, before = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port)); s.recv(1024); socks.append(s)
time.sleep(1)
rss = int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
print(f"idle IMAP connections: {n}: RSS {before} KiB -> {rss} KiB = {(rss - before) / n:.1f} KiB each")
pss = int([l for l in open(f"/proc/{pid}/smaps_rollup") if l.startswith("Pss:")][0].split()[1])
print(f"  (mail-server is one process: PSS {pss} KiB with the connections open)")
PY

# The same for Dovecot, whose login processes hold unauthenticated connections (one process
# per connection in its default high-security mode, so fewer connections: DC_IDLE). Memory
# as PSS (shared pages divided among the processes that map them), summed over Dovecot's
# processes; RSS would count the shared libraries once per process.
DC_IDLE=${DC_IDLE:-200}
python3 - "${DC_IMAP_PORT:?}" "$DC_IDLE" <<'PY'
import os, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
NAMES = {"imap-login", "imap", "dovecot", "anvil", "log", "config", "auth", "stats"}
def pss():
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/comm").read().strip() not in NAMES:
                continue
            for l in open(f"/proc/{pid}/smaps_rollup"):
                if l.startswith("Pss:"):
                    total += int(l.split()[1])
        except OSError:
            pass
    return total
before = pss()
socks = []
try:
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5); s.recv(1024); socks.append(s)
except Exception as e:
    print(f"dovecot: stopped after {len(socks)} connections: {e}")
time.sleep(1)
after = pss()
m = len(socks)
print(f"dovecot idle IMAP connections: {m}: PSS {before} KiB -> {after} KiB = {(after - before) / max(m, 1):.1f} KiB each")
PY

# Logged-in sessions idling (LOGIN, SELECT INBOX of the mailbox the delivery runs filled,
# IDLE): ours with AUTH_IDLE sessions, Dovecot with AUTH_IDLE_DC (its
# mail_max_userip_connections is 10 per user and address). Memory as PSS of the processes.
AUTH_IDLE=${AUTH_IDLE:-200}
AUTH_IDLE_DC=${AUTH_IDLE_DC:-9}
python3 - "$IMAP_PORT" "$AUTH_IDLE" "$SERVER_PID" "${DC_IMAP_PORT:?}" "$AUTH_IDLE_DC" <<'PY'
import os, socket, sys, time
port, n, pid, dc_port, dc_n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
NAMES = {"imap-login", "imap", "dovecot", "anvil", "log", "config", "auth", "stats"}
def pss(pids):
    total = 0
    for p in pids:
        try:
            for l in open(f"/proc/{p}/smaps_rollup"):
                if l.startswith("Pss:"):
                    total += int(l.split()[1])
        except OSError:
            pass
    return total
def dovecot_pids():
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{p}/comm").read().strip() in NAMES:
                out.append(p)
        except OSError:
            pass
    return out
def until(s, tag):
    buf = b""
    while tag not in buf:
        d = s.recv(65536)
        if not d:
            raise RuntimeError(buf[-200:])
        buf += d
    return buf
def open_idle(port, user, pw, count):
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(30)
        until(s, b"\r\n")
        s.sendall(f"a LOGIN {user} {pw}\r\n".encode()); until(s, b"a OK")
        s.sendall(b"b SELECT INBOX\r\n"); b = until(s, b"b OK")
        s.sendall(b"c IDLE\r\n"); until(s, b"+ ")
        socks.append(s)
    exists = [l for l in b.split(b"\r\n") if l.endswith(b"EXISTS")]
    return socks, exists[0].decode() if exists else "?"
for name, p, user, pw, count, pids in [
    ("mail-server", port, "bob@bench.test", "pw", n, lambda: [pid]),
    ("dovecot", dc_port, "bob", "bobpw", dc_n, dovecot_pids),
]:
    before = pss(pids())
    socks, exists = open_idle(p, user, pw, count)
    time.sleep(1)
    after = pss(pids())
    print(f"{name}: {count} logged-in sessions in IDLE on INBOX ({exists}): PSS {before} KiB -> {after} KiB = {(after - before) / count:.1f} KiB each")
    for s in socks:
        s.close()
    time.sleep(0.5)
PY
