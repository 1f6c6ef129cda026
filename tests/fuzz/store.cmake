# fuzz_store_name: libFuzzer over the snapshot store's file names
# (daemon/store_name.c: the parser that reads the store's directory, and
# the builder fed with process names), and fuzz_store_name_smoke, a
# minute of it on the committed corpus (corpus/store_name) so that CI
# fuzzes every change a little. Included from tests/fuzz/CMakeLists.txt
# (FR_FUZZ=ON, clang); the replay of the same corpus for gcc builds is in
# replay/store.cmake.
#
# The module is compiled into the target with the fuzzer's flags rather
# than linked from frdaemon (built without coverage).
if(NOT FUZZ_FLAGS)
  set(FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
endif()

add_executable(fuzz_store_name ${CMAKE_CURRENT_LIST_DIR}/fuzz_store_name.c
  ${CMAKE_SOURCE_DIR}/daemon/store_name.c)
target_include_directories(fuzz_store_name PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_options(fuzz_store_name PRIVATE ${FUZZ_FLAGS})
target_link_options(fuzz_store_name PRIVATE ${FUZZ_FLAGS})

# New inputs go to a scratch directory listed first (libFuzzer writes
# there), never into the source tree; crashes go to the build directory.
set(STORE_SMOKE_DIR ${CMAKE_CURRENT_BINARY_DIR}/smoke-store-name)
file(MAKE_DIRECTORY ${STORE_SMOKE_DIR}/corpus)
add_test(NAME fuzz_store_name_smoke
  COMMAND fuzz_store_name -max_total_time=60 -max_len=512 -rss_limit_mb=2048 -timeout=10
    -dict=${CMAKE_CURRENT_LIST_DIR}/store_name.dict -artifact_prefix=${STORE_SMOKE_DIR}/
    -print_final_stats=1 ${STORE_SMOKE_DIR}/corpus ${CMAKE_CURRENT_LIST_DIR}/corpus/store_name)
set_tests_properties(fuzz_store_name_smoke PROPERTIES TIMEOUT 120
  ENVIRONMENT UBSAN_OPTIONS=print_stacktrace=1)
