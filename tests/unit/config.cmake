# test_config: the loader (every type, every error with its location and
# text, bounds) and the daemon's schema (defaults, the shipped file).
fr_add_test(test_config SOURCES test_config.c LIBS frconfig)
target_compile_definitions(test_config PRIVATE
  FR_CONFIG_FILE="${CMAKE_SOURCE_DIR}/config/flightrec.yaml")
