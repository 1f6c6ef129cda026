#!/bin/sh
# test_install.sh BUILD_DIR SOURCE_DIR - installs flightrec into a
# temporary prefix and builds a program against it the two ways a user
# would: pkg-config, and CMake's find_package(flightrec). Exit 77: skipped.
set -eu
build=$1
src=$2
command -v pkg-config >/dev/null || { echo "no pkg-config"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n1)
app=$src/tests/compile/use_api.c

# pkg-config, shared library
PKG_CONFIG_PATH=$libdir cc -std=gnu11 -o "$tmp/app-pc" "$app" \
    $(PKG_CONFIG_PATH=$libdir pkg-config --cflags --libs flightrec)
LD_LIBRARY_PATH=$(dirname "$libdir") "$tmp/app-pc" | grep -qx ok
echo "pkg-config: ok"

# find_package, in a CMake project of its own
mkdir -p "$tmp/proj"
cp "$app" "$tmp/proj/app.c"
cat > "$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(app C)
find_package(flightrec REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE flightrec::flightrec)
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/proj/build" >/dev/null
"$tmp/proj/build/app" | grep -qx ok
echo "find_package: ok"
