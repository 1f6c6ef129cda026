# test_store: the snapshot store (daemon/store.cmake).
if(TARGET frdaemon)
  fr_add_test(test_store SOURCES test_store.c LIBS frdaemon TIMEOUT 120)
endif()
