# test_fuzz_config_corpus: the config loader's fuzz corpus in every build,
# libFuzzer or not: fuzz_config.c behind the plain main() of fuzz_replay.c,
# so the gcc and sanitizer builds run every input the fuzzer once found
# interesting, and variants of them. Included from replay/CMakeLists.txt
# (which sets FUZZ_DIR); the libFuzzer target is in ../config.cmake.
fr_add_test(test_fuzz_config_corpus
  SOURCES ${FUZZ_DIR}/fuzz_config.c ${FUZZ_DIR}/fuzz_replay.c
  LIBS frconfig
  TIMEOUT 120
  ENV UBSAN_OPTIONS=print_stacktrace=1)
target_compile_definitions(test_fuzz_config_corpus PRIVATE
  FUZZ_CORPUS_DIR="${FUZZ_DIR}/corpus/config")
