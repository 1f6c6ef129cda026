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
