# fuzz_http: libFuzzer over the daemon's HTTP request path (daemon/
# http_conn.c and the query, route and response modules, fed from a byte
# buffer through a memory sink), and fuzz_http_smoke, a minute of it on
# the committed corpus (corpus/http) so that CI fuzzes every change a
# little. Included from tests/fuzz/CMakeLists.txt (FR_FUZZ=ON, clang); the
# replay of the same corpus for gcc builds is in replay/http.cmake.
#
# The sources, llhttp's included, are compiled into the target with the
# fuzzer's flags rather than linked from frhttp (built without coverage):
# coverage of llhttp's states is what leads the fuzzer into ours.
if(NOT TARGET frhttp)
  return() # the daemon is not built
endif()
if(NOT TARGET PkgConfig::LIBUV) # imported in daemon/'s scope only
  pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
endif()
if(NOT FUZZ_FLAGS)
  set(FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
endif()

get_property(FUZZ_HTTP_SOURCES GLOBAL PROPERTY FR_HTTP_CORE_SOURCES)
get_property(FUZZ_LLHTTP_SOURCES GLOBAL PROPERTY FR_LLHTTP_SOURCES)
get_property(FUZZ_LLHTTP_INCLUDE_DIR GLOBAL PROPERTY FR_LLHTTP_INCLUDE_DIR)
add_library(fuzz_llhttp STATIC ${FUZZ_LLHTTP_SOURCES})
target_compile_options(fuzz_llhttp PRIVATE ${FUZZ_FLAGS} -w)
target_include_directories(fuzz_llhttp SYSTEM PUBLIC ${FUZZ_LLHTTP_INCLUDE_DIR})

add_executable(fuzz_http ${CMAKE_CURRENT_LIST_DIR}/fuzz_http.c ${FUZZ_HTTP_SOURCES})
target_include_directories(fuzz_http PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_options(fuzz_http PRIVATE ${FUZZ_FLAGS})
target_link_options(fuzz_http PRIVATE ${FUZZ_FLAGS})
target_link_libraries(fuzz_http PRIVATE fuzz_llhttp PkgConfig::LIBUV)

# New inputs go to a scratch directory listed first (libFuzzer writes
# there), never into the source tree; crashes go to the build directory.
set(HTTP_SMOKE_DIR ${CMAKE_CURRENT_BINARY_DIR}/smoke-http)
file(MAKE_DIRECTORY ${HTTP_SMOKE_DIR}/corpus)
add_test(NAME fuzz_http_smoke
  COMMAND fuzz_http -max_total_time=60 -max_len=4096 -rss_limit_mb=2048 -timeout=10
    -dict=${CMAKE_CURRENT_LIST_DIR}/http.dict -artifact_prefix=${HTTP_SMOKE_DIR}/
    -print_final_stats=1 ${HTTP_SMOKE_DIR}/corpus ${CMAKE_CURRENT_LIST_DIR}/corpus/http)
set_tests_properties(fuzz_http_smoke PROPERTIES TIMEOUT 120
  ENVIRONMENT UBSAN_OPTIONS=print_stacktrace=1)
