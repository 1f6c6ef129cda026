# test_config: the loader (every type, every error with its location and
# text, bounds).
fr_add_test(test_config SOURCES test_config.c LIBS frconfig)
