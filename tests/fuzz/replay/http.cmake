# test_fuzz_http_corpus: the HTTP request path's fuzz corpus in every
# build, libFuzzer or not: fuzz_http.c behind the plain main() of
# fuzz_replay.c, so the gcc and sanitizer builds run every input the
# fuzzer once found interesting, and variants of them. Included from
# replay/CMakeLists.txt; the libFuzzer target is in ../http.cmake.
if(TARGET frhttp)
  get_filename_component(HTTP_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR} DIRECTORY)
  fr_add_test(test_fuzz_http_corpus
    SOURCES ${HTTP_FUZZ_DIR}/fuzz_http.c ${HTTP_FUZZ_DIR}/fuzz_replay.c
    LIBS frhttp
    TIMEOUT 120
    ENV UBSAN_OPTIONS=print_stacktrace=1)
  target_compile_definitions(test_fuzz_http_corpus PRIVATE
    FUZZ_CORPUS_DIR="${HTTP_FUZZ_DIR}/corpus/http")
endif()
