# bench-encode: throughput of the trace encoders (Perfetto, JSON) on one
# core for a synthetic 8 MiB window (bench/encode.c). Included from
# bench/CMakeLists.txt after fr_bench_harness is defined.
add_executable(bench-encode ${CMAKE_CURRENT_LIST_DIR}/encode.c)
target_link_libraries(bench-encode PRIVATE frcommon fr_bench_harness)
