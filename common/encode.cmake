# The trace encoders (Perfetto protobuf, Chrome JSON) in common/, and
# fr_write_snapshot() in the library. Included from the top CMakeLists.txt
# once frcommon_obj and flightrec_obj exist.
target_sources(frcommon_obj PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/sink.c
  ${CMAKE_CURRENT_LIST_DIR}/window.c
  ${CMAKE_CURRENT_LIST_DIR}/perfetto.c
  ${CMAKE_CURRENT_LIST_DIR}/json.c)
target_sources(flightrec_obj PRIVATE ${CMAKE_SOURCE_DIR}/lib/snapshot.c)
