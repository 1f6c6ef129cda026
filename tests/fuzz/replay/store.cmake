# test_fuzz_store_name_corpus: the store's file-name fuzz corpus in every
# build, libFuzzer or not: fuzz_store_name.c behind the plain main() of
# fuzz_replay.c, so the gcc and sanitizer builds run every input the
# fuzzer once found interesting, and variants of them. Included from
# replay/CMakeLists.txt (which sets FUZZ_DIR); the libFuzzer target is in
# ../store.cmake.
fr_add_test(test_fuzz_store_name_corpus
  SOURCES ${FUZZ_DIR}/fuzz_store_name.c ${FUZZ_DIR}/fuzz_replay.c
    ${CMAKE_SOURCE_DIR}/daemon/store_name.c
  TIMEOUT 120
  ENV UBSAN_OPTIONS=print_stacktrace=1)
target_compile_definitions(test_fuzz_store_name_corpus PRIVATE
  FUZZ_CORPUS_DIR="${FUZZ_DIR}/corpus/store_name")
