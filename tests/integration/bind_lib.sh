# BIND 9 for the ACME dns-01 tests (sourced after lib.sh): `named` as the primary of the zone
# test.example on 127.0.0.1 and a free UDP/TCP port, granting TSIG-signed updates of TXT records
# to the key certrotd (made with tsig-keygen now, in $work/certrotd.key). named_port and
# named_server ("127.0.0.1:PORT") are set by start_named; txt_at NAME lists NAME's TXT values.
# `start_named KEYFILE...` also makes named know the TSIG keys in those files (without granting
# them anything).
for tool in named tsig-keygen dig; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
    fail "$tool is missing (scripts/setup installs bind9 and bind9-dnsutils)"
done

start_named() {
  local named
  named=$(command -v named || echo /usr/sbin/named)
  mkdir -p "$work/named"
  tsig-keygen -a hmac-sha256 certrotd > "$work/certrotd.key"
  chmod 0600 "$work/certrotd.key"
  named_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  named_server=127.0.0.1:$named_port
  local includes="include \"$work/certrotd.key\";" key
  for key in "$@"; do includes+=$'\n'"include \"$key\";"; done
  cat > "$work/named/test.example.db" <<ZONE
\$TTL 60
@   IN SOA ns.test.example. hostmaster.test.example. 1 3600 600 86400 60
    IN NS  ns.test.example.
ns  IN A   127.0.0.1
ZONE
  cat > "$work/named.conf" <<CONF
options {
  directory "$work/named";
  pid-file "$work/named/named.pid";
  session-keyfile "$work/named/session.key";
  listen-on port $named_port { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  notify no;
  dnssec-validation no;
};
controls { };
$includes
zone "test.example" {
  type primary;
  file "$work/named/test.example.db";
  update-policy { grant certrotd. zonesub TXT; };
};
CONF
  # -g: in the foreground, logging to stderr; started as root and left as root (no -u).
  "$named" -g -c "$work/named.conf" >"$work/named.log" 2>&1 &
  started_pids+=("$!")
  local deadline=$((SECONDS + 30))
  until dig @127.0.0.1 -p "$named_port" +short +time=1 +tries=1 test.example SOA | grep -q hostmaster; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$work/named.log" >&2
      fail "named did not answer on port $named_port within 30 s (an AppArmor profile for named may keep it out of $work)"
    fi
    sleep 0.2
  done
}

txt_at() { dig @127.0.0.1 -p "$named_port" +short +time=2 +tries=1 "$1" TXT; }
