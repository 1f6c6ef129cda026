#!/bin/sh
# deps.sh PROFILE... - installs the Debian packages a make target needs,
# only those missing: apt-get as root, sudo otherwise.
set -eu
pkgs=""
for profile in "$@"; do
  case "$profile" in
  build) pkgs="$pkgs gcc g++ make cmake ninja-build pkg-config libuv1-dev libyaml-dev node-llhttp libsystemd-dev" ;;
  test) pkgs="$pkgs libcmocka-dev python3 protobuf-compiler prometheus systemd curl" ;;
  ci) pkgs="$pkgs clang libclang-rt-14-dev" ;;
  bench) pkgs="$pkgs liblttng-ust-dev lttng-tools curl" ;;
  *) echo "deps.sh: unknown profile $profile" >&2; exit 2 ;;
  esac
done
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing$missing" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
