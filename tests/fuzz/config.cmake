# fuzz_config: libFuzzer over the config loader (common/config.c and the
# daemon's schema), and fuzz_config_smoke, a minute of it on the committed
# corpus (corpus/config) so that CI fuzzes every change a little. Included
# from tests/fuzz/CMakeLists.txt (FR_FUZZ=ON, clang), whose FUZZ_FLAGS it
# reuses; the replay of the same corpus for gcc builds is in
# replay/config.cmake.
#
# The loader's sources are compiled into the target with the fuzzer's
# flags rather than linked from frconfig (built without coverage).
# libyaml comes from the system, uninstrumented: we fuzz our use of it.
add_executable(fuzz_config ${CMAKE_CURRENT_LIST_DIR}/fuzz_config.c
  ${CMAKE_SOURCE_DIR}/common/config.c ${CMAKE_SOURCE_DIR}/daemon/config_schema.c
  ${CMAKE_SOURCE_DIR}/common/units.c)
target_include_directories(fuzz_config PRIVATE ${CMAKE_SOURCE_DIR})
target_compile_options(fuzz_config PRIVATE ${FUZZ_FLAGS})
target_link_options(fuzz_config PRIVATE ${FUZZ_FLAGS})
target_link_libraries(fuzz_config PRIVATE PkgConfig::YAML m)

# New inputs go to a scratch directory listed first (libFuzzer writes
# there), never into the source tree; crashes go to the build directory.
set(CONFIG_SMOKE_DIR ${CMAKE_CURRENT_BINARY_DIR}/smoke-config)
file(MAKE_DIRECTORY ${CONFIG_SMOKE_DIR}/corpus)
add_test(NAME fuzz_config_smoke
  COMMAND fuzz_config -max_total_time=60 -max_len=8192 -rss_limit_mb=2048 -timeout=10
    -dict=${CMAKE_CURRENT_LIST_DIR}/config.dict -artifact_prefix=${CONFIG_SMOKE_DIR}/
    -print_final_stats=1 ${CONFIG_SMOKE_DIR}/corpus ${CMAKE_CURRENT_LIST_DIR}/corpus/config)
set_tests_properties(fuzz_config_smoke PROPERTIES TIMEOUT 120
  ENVIRONMENT UBSAN_OPTIONS=print_stacktrace=1)
