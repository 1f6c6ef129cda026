# Daemon modules (daemon/CMakeLists.txt).
if(TARGET frdaemon)
  fr_add_test(test_control SOURCES test_control.c LIBS frdaemon flightrec_internal TIMEOUT 60)
endif()
if(TARGET frdaemon AND TARGET frconfig)
  fr_add_test(test_rules SOURCES test_rules.c LIBS frdaemon frconfig)
endif()
