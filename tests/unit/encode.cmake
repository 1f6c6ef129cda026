# Tests of the trace encoders and fr_write_snapshot() (common/encode.cmake).
# check-perfetto and the schema live next to the repository; the tests skip
# the checks that need them (or protoc, or python3) when they are absent.
set(FR_FORMATS_DIR ${CMAKE_SOURCE_DIR}/../shared/formats)
set(FR_FORMATS_DEFS
  FR_CHECK_PERFETTO="${FR_FORMATS_DIR}/check-perfetto"
  FR_PERFETTO_PROTO_DIR="${FR_FORMATS_DIR}")

fr_add_test(test_sink SOURCES test_sink.c LIBS frcommon)
fr_add_test(test_perfetto SOURCES test_perfetto.c LIBS flightrec_internal TIMEOUT 120)
target_compile_definitions(test_perfetto PRIVATE ${FR_FORMATS_DEFS})
fr_add_test(test_json SOURCES test_json.c LIBS flightrec_internal TIMEOUT 120)
target_compile_definitions(test_json PRIVATE ${FR_FORMATS_DEFS})
fr_add_test(test_snapshot SOURCES test_snapshot.c LIBS flightrec_internal TIMEOUT 120)
target_compile_definitions(test_snapshot PRIVATE ${FR_FORMATS_DEFS})
# The same program with recording off: fr_write_snapshot() says -ENODATA.
add_test(NAME test_snapshot_disabled COMMAND test_snapshot)
set_tests_properties(test_snapshot_disabled PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77
  ENVIRONMENT "FLIGHTREC_DISABLE=1")
