# store.cmake - the snapshot store, part of frdaemon. Included by
# daemon/CMakeLists.txt once frdaemon exists; its tests register in
# tests/unit/store.cmake.
target_sources(frdaemon PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/store_name.c)
