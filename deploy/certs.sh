#!/usr/bin/env bash
# GenFarm certificates and tokens (openssl): a farm CA, the scheduler's server certificate,
# one client certificate per worker (CN = worker id, OU = genfarm-worker), optional client
# certificates for people (CN = name, OU = genfarm-user) and bearer tokens for people and
# Prometheus. See docs/security.md.
#
#   deploy/certs.sh --dir /etc/genfarm/tls --server farm.example.com --worker w1 --worker w2
#   deploy/certs.sh --dir /etc/genfarm/tls --user alice --token alice --token prometheus
#
# Flags (each may be repeated where it says so):
#   --dir DIR         where everything goes (required); created if missing
#   --server NAME     extra DNS name or IP address for the scheduler's certificate (repeatable;
#                     127.0.0.1 and localhost are always included)
#   --worker ID       a worker certificate DIR/workers/ID.{pem,key} (repeatable)
#   --user NAME       a person's client certificate DIR/users/NAME.{pem,key} (repeatable)
#   --token NAME      a random bearer token DIR/tokens/NAME.token (repeatable); prints the
#                     line to paste into the roles file: "NAME token_sha256: HEX"
#   --days N          validity of new leaf certificates (default 825)
#   --ca-days N       validity of a new CA (default 3650)
#
# Idempotent: files that exist are kept, so running it again with one more --worker adds that
# worker and changes nothing else. The server certificate is reissued (same CA) only when
# the set of names asked for differs from the one it was issued for. Private keys and tokens
# are written mode 600. Names and ids must match [A-Za-z0-9._-]+.
#
# Layout of DIR:
#   ca.pem ca.key              the farm CA (keep ca.key offline in production)
#   server.pem server.key      --tls_cert / --tls_key of genfarm-scheduler
#   workers/ID.pem ID.key      --tls_cert / --tls_key of genfarm-worker --id ID
#   users/NAME.pem NAME.key    a person's client certificate (genfarm --tls_cert/--tls_key)
#   tokens/NAME.token          a bearer token (GENFARM_TOKEN or --token)
set -Eeuo pipefail

usage() { sed -n '2,/^set -Eeuo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() {
  printf 'certs.sh: %s\n' "$*" >&2
  exit 2
}

DIR=""
DAYS=825
CA_DAYS=3650
SERVERS=()
WORKERS=()
USERS=()
TOKENS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
    --server) SERVERS+=("${2:?--server needs a value}"); shift 2 ;;
    --worker) WORKERS+=("${2:?--worker needs a value}"); shift 2 ;;
    --user) USERS+=("${2:?--user needs a value}"); shift 2 ;;
    --token) TOKENS+=("${2:?--token needs a value}"); shift 2 ;;
    --days) DAYS=${2:?--days needs a value}; shift 2 ;;
    --ca-days) CA_DAYS=${2:?--ca-days needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[ -n "$DIR" ] || die "--dir is required (try --help)"
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
[[ "$DAYS" =~ ^[0-9]+$ ]] || die "--days: '$DAYS' is not a number of days"
[[ "$CA_DAYS" =~ ^[0-9]+$ ]] || die "--ca-days: '$CA_DAYS' is not a number of days"
for name in "${WORKERS[@]}" "${USERS[@]}" "${TOKENS[@]}"; do
  [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "'$name': names and ids must match [A-Za-z0-9._-]+"
done
for name in "${SERVERS[@]}"; do
  [[ "$name" =~ ^[A-Za-z0-9.:*-]+$ ]] || die "--server '$name': not a DNS name or IP address"
done

umask 077
mkdir -p "$DIR" "$DIR/workers" "$DIR/users" "$DIR/tokens"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

say() { printf 'certs.sh: %s\n' "$*"; }

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# The CA: made once, never replaced (every certificate below hangs off it).
if [ ! -f "$DIR/ca.pem" ] || [ ! -f "$DIR/ca.key" ]; then
  [ ! -f "$DIR/ca.pem" ] && [ ! -f "$DIR/ca.key" ] ||
    die "$DIR has only one of ca.pem and ca.key; restore the other or remove both"
  new_key "$DIR/ca.key"
  openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days "$CA_DAYS" \
    -subj "/O=GenFarm/CN=GenFarm farm CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$DIR/ca.pem" 2>/dev/null
  chmod 644 "$DIR/ca.pem"
  say "made the farm CA $DIR/ca.pem"
fi

# sign NAME_BASE SUBJECT EXTENSIONS: a key (kept if present) and a certificate from the CA.
sign() {
  local base=$1 subject=$2 ext=$3
  [ -f "$base.key" ] || new_key "$base.key"
  openssl req -new -key "$base.key" -subj "$subject" -out "$TMP/req.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$TMP/ext.cnf"
  openssl x509 -req -in "$TMP/req.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS" -sha256 \
    -extfile "$TMP/ext.cnf" -out "$base.pem.new" 2>/dev/null
  mv "$base.pem.new" "$base.pem"
  chmod 644 "$base.pem"
}

# The scheduler's server certificate.
names="IP:127.0.0.1,DNS:localhost"
for name in "${SERVERS[@]}"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then
    names+=",IP:$name"
  else
    names+=",DNS:$name"
  fi
done
if [ ! -f "$DIR/server.pem" ] || [ "$(cat "$DIR/server.names" 2>/dev/null)" != "$names" ]; then
  sign "$DIR/server" "/O=GenFarm/OU=genfarm-scheduler/CN=genfarm-scheduler" \
    "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$names"
  printf '%s\n' "$names" >"$DIR/server.names"
  say "made the scheduler certificate $DIR/server.pem ($names)"
fi

client_cert() {  # client_cert DIR_PART OU NAME
  local base="$DIR/$1/$3"
  [ -f "$base.pem" ] && return 0
  sign "$base" "/O=GenFarm/OU=$2/CN=$3" \
    "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  say "made $base.pem (CN=$3, OU=$2)"
}
for id in "${WORKERS[@]}"; do client_cert workers genfarm-worker "$id"; done
for name in "${USERS[@]}"; do client_cert users genfarm-user "$name"; done

for name in "${TOKENS[@]}"; do
  file="$DIR/tokens/$name.token"
  if [ ! -f "$file" ]; then
    openssl rand -hex 32 >"$file"
    say "made the token $file"
  fi
  hash=$(tr -d '\n' <"$file" | openssl dgst -sha256 -r | cut -d' ' -f1)
  printf '%s token_sha256: %s\n' "$name" "$hash"
done
