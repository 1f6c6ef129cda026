# The daemon benchmark (bench/daemon_bench.py, docs/performance.md): its
# writers. bench-fillapp fills libflightrec rings and holds them;
# bench-fillapp-lttng writes the same events into an LTTng-UST session,
# built only when pkg-config found lttng-ust (bench/CMakeLists.txt looked).
# The script itself runs flightrecd, fr-testapp and bench-encode as built.
add_executable(bench-fillapp ${CMAKE_CURRENT_LIST_DIR}/fillapp.c)
target_link_libraries(bench-fillapp PRIVATE flightrec Threads::Threads)

if(LTTNG_UST_FOUND)
  add_executable(bench-fillapp-lttng ${CMAKE_CURRENT_LIST_DIR}/fillapp.c
                 ${CMAKE_CURRENT_LIST_DIR}/lttng_tp.c)
  target_compile_definitions(bench-fillapp-lttng PRIVATE FILL_LTTNG=1)
  target_include_directories(bench-fillapp-lttng PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(bench-fillapp-lttng PRIVATE PkgConfig::LTTNG_UST Threads::Threads
                        ${CMAKE_DL_LIBS})
endif()

# bench-dirwatch: when files appear in the snapshot directories, for the
# trigger benchmark (bench/trigger_bench.py).
add_executable(bench-dirwatch ${CMAKE_CURRENT_LIST_DIR}/dirwatch.c)
