# Installs the header, both libraries, pkg-config and CMake package files,
# so another project builds with `pkg-config --cflags --libs flightrec` or
# `find_package(flightrec)` and `target_link_libraries(app flightrec::flightrec)`.
include(CMakePackageConfigHelpers)

install(FILES include/flightrec.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS flightrec flightrec_static EXPORT flightrecTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS flightrec-demo RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT flightrecTargets NAMESPACE flightrec::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/flightrec)

configure_package_config_file(cmake/flightrecConfig.cmake.in
  ${CMAKE_BINARY_DIR}/flightrecConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/flightrec)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/flightrecConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/flightrecConfig.cmake
  ${CMAKE_BINARY_DIR}/flightrecConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/flightrec)

configure_file(cmake/flightrec.pc.in ${CMAKE_BINARY_DIR}/flightrec.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/flightrec.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The daemon's service: the unit (paths filled in for this prefix), its
# user, and the default config. `make install` as root on a systemd
# machine then needs: systemd-sysusers; systemctl daemon-reload;
# systemctl enable --now flightrecd (docs/daemon.md).
set(FR_BINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
# where install(FILES config/...) below puts it: the same computation
# (FULL_SYSCONFDIR would say /etc for prefix /usr, the file goes to /usr/etc)
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(FR_CONFIG ${CMAKE_INSTALL_SYSCONFDIR}/flightrec/flightrec.yaml)
else()
  set(FR_CONFIG ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}/flightrec/flightrec.yaml)
endif()
set(FR_DOCDIR ${CMAKE_INSTALL_FULL_DOCDIR})
configure_file(systemd/flightrecd.service.in ${CMAKE_BINARY_DIR}/flightrecd.service @ONLY)
set(FR_SYSTEMD_UNITDIR lib/systemd/system CACHE STRING "where the unit goes, under the prefix")
install(FILES ${CMAKE_BINARY_DIR}/flightrecd.service DESTINATION ${FR_SYSTEMD_UNITDIR})
install(FILES systemd/flightrec.sysusers.conf DESTINATION lib/sysusers.d RENAME flightrec.conf)
# The service user, created at install time when installing for real: as
# root, into the system, with systemd-sysusers at hand. A staged install
# (DESTDIR) or one into a private prefix leaves users alone.
install(CODE [[
  if(NOT DEFINED ENV{DESTDIR} AND CMAKE_INSTALL_PREFIX MATCHES "^/usr(/local)?$")
    find_program(FR_SYSUSERS systemd-sysusers)
    execute_process(COMMAND id -u OUTPUT_VARIABLE FR_UID OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(FR_SYSUSERS AND FR_UID STREQUAL "0")
      message(STATUS "Creating the flightrec user: systemd-sysusers")
      execute_process(COMMAND ${FR_SYSUSERS}
        ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d/flightrec.conf)
    endif()
  endif()
]])
install(FILES config/flightrec.yaml DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/flightrec)
install(FILES docs/daemon.md docs/http.md docs/library.md docs/config.md docs/abi.md docs/rules.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

# For tests: the same unit pointing at this build, so systemd-analyze
# verify checks a binary that exists.
set(FR_BINDIR ${CMAKE_BINARY_DIR}/bin)
set(FR_CONFIG ${CMAKE_SOURCE_DIR}/config/flightrec.yaml)
configure_file(systemd/flightrecd.service.in ${CMAKE_BINARY_DIR}/test/flightrecd.service @ONLY)
