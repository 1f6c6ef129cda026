# http.cmake - the daemon's HTTP server, target frhttp, and the llhttp
# parser it uses (target frllhttp). Included by daemon/CMakeLists.txt.
#
# Debian's node-llhttp ships llhttp as C sources and a header, not as a
# library: we compile them here, as they are, with warnings off for them
# alone (they are not our code) and the header as a system include.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp /usr/include/llhttp)
find_path(LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp)
if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_SOURCE_DIR)
  message(FATAL_ERROR "llhttp sources not found: install node-llhttp (scripts/deps.sh build)")
endif()
if(NOT TARGET PkgConfig::LIBUV)
  pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
endif()

set(FR_LLHTTP_SOURCES ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c
  ${LLHTTP_SOURCE_DIR}/llhttp.c)
add_library(frllhttp STATIC ${FR_LLHTTP_SOURCES})
target_include_directories(frllhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
target_compile_options(frllhttp PRIVATE -w)

# The request path without sockets (also compiled into tests/fuzz/fuzz_http),
# then the server around it.
set(FR_HTTP_CORE_SOURCES http_conn.c http_query.c http_resp.c http_route.c)
list(TRANSFORM FR_HTTP_CORE_SOURCES PREPEND ${CMAKE_CURRENT_LIST_DIR}/)
add_library(frhttp STATIC ${FR_HTTP_CORE_SOURCES}
  ${CMAKE_CURRENT_LIST_DIR}/http.c ${CMAKE_CURRENT_LIST_DIR}/http_listen.c)
target_include_directories(frhttp PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(frhttp PUBLIC frllhttp PkgConfig::LIBUV)

# For tests/fuzz/http.cmake, which compiles these with the fuzzer's flags
# (a directory scope away from here, hence global properties).
set_property(GLOBAL PROPERTY FR_HTTP_CORE_SOURCES ${FR_HTTP_CORE_SOURCES})
set_property(GLOBAL PROPERTY FR_LLHTTP_SOURCES ${FR_LLHTTP_SOURCES})
set_property(GLOBAL PROPERTY FR_LLHTTP_INCLUDE_DIR ${LLHTTP_INCLUDE_DIR})
