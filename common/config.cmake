# The config loader (common/config.c, one libyaml walker over tables) and
# the daemon's schema (daemon/config_schema.c). A library of its own, not
# part of frcommon or libflightrec: the client library must not depend on
# libyaml. Included from the top CMakeLists.txt; tests register themselves
# in tests/unit/config.cmake and tests/fuzz/{,replay/}config.cmake.
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)

add_library(frconfig STATIC common/config.c daemon/config_schema.c)
target_include_directories(frconfig PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(frconfig PUBLIC frcommon PkgConfig::YAML)
