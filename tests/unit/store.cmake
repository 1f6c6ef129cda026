# test_store: the snapshot store (daemon/store.cmake) on real directories:
# names, modes, limits, rescans, disk failures (a file size limit, and a
# small tmpfs in a user namespace where the kernel allows one), threads.
if(TARGET frdaemon)
  fr_add_test(test_store SOURCES test_store.c LIBS frdaemon Threads::Threads TIMEOUT 120)
endif()
