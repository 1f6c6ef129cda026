# Tests of the trace encoders and fr_write_snapshot() (common/encode.cmake).
# check-perfetto and the schema live next to the repository; the tests skip
# the checks that need them (or protoc, or python3) when they are absent.
set(FR_FORMATS_DIR ${CMAKE_SOURCE_DIR}/../shared/formats)
set(FR_FORMATS_DEFS
  FR_CHECK_PERFETTO="${FR_FORMATS_DIR}/check-perfetto"
  FR_PERFETTO_PROTO_DIR="${FR_FORMATS_DIR}")

fr_add_test(test_perfetto SOURCES test_perfetto.c LIBS flightrec_internal TIMEOUT 120)
target_compile_definitions(test_perfetto PRIVATE ${FR_FORMATS_DEFS})
fr_add_test(test_json SOURCES test_json.c LIBS flightrec_internal TIMEOUT 120)
target_compile_definitions(test_json PRIVATE ${FR_FORMATS_DEFS})
