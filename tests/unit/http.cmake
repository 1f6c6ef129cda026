# The daemon's HTTP server (daemon/http.cmake defines frhttp; this file is
# read after it only when the daemon is built).
if(TARGET frhttp)
  fr_add_test(test_http SOURCES test_http.c LIBS frhttp Threads::Threads TIMEOUT 120)
endif()
