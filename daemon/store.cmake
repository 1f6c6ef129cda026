# store.cmake - the snapshot store (store.c; its directory, file names
# and sidecar), part of frdaemon. Included by daemon/CMakeLists.txt once
# frdaemon exists; its tests register in tests/unit/store.cmake.
target_sources(frdaemon PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/store.c
  ${CMAKE_CURRENT_LIST_DIR}/store_dir.c
  ${CMAKE_CURRENT_LIST_DIR}/store_meta.c
  ${CMAKE_CURRENT_LIST_DIR}/store_name.c)
target_link_libraries(frdaemon PUBLIC Threads::Threads)
