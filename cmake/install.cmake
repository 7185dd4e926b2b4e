# Install rules beyond the programs (which refbus_program installs to bin/): man pages, guides,
# example configs and systemd units, in the usual GNU places. Included at the end of the
# top-level CMakeLists.txt. `cmake --install build --prefix /usr` gives a Debian-like layout.
include(GNUInstallDirs)

# Man pages: every docs/man/*.1 present at install time (parts add theirs as they land),
# gzip'ed as Debian requires and man(1) reads everywhere (-n: no name or time stamp inside, so
# the same page gives the same bytes).
install(CODE "
  set(_man \"${CMAKE_INSTALL_MANDIR}/man1\")
  if(NOT IS_ABSOLUTE \"\${_man}\")
    set(_man \"\${CMAKE_INSTALL_PREFIX}/\${_man}\")
  endif()
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${_man}\")
  file(GLOB _pages \"${CMAKE_SOURCE_DIR}/docs/man/*.1\")
  foreach(_p \${_pages})
    get_filename_component(_n \"\${_p}\" NAME)
    message(STATUS \"Installing: \$ENV{DESTDIR}\${_man}/\${_n}.gz\")
    execute_process(COMMAND gzip -9n -c \"\${_p}\" OUTPUT_FILE \"\$ENV{DESTDIR}\${_man}/\${_n}.gz\"
                    RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR \"gzip \${_p} failed\")
    endif()
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${_man}/\${_n}.gz\")
  endforeach()
")

# Guides and specifications.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/
        DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "man" EXCLUDE)
foreach(f README.md LICENSE)
  if(EXISTS ${CMAKE_SOURCE_DIR}/${f})
    install(FILES ${CMAKE_SOURCE_DIR}/${f} DESTINATION ${CMAKE_INSTALL_DOCDIR})
  endif()
endforeach()

# Example configuration files and a referral, to copy to /etc/refbus/ and adapt.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/examples/
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# systemd units. The sources name the programs as /usr/bin/... and the guide under
# /usr/share/doc/refbus/; the installed copies name them where this install puts them (worked out
# at install time, so `cmake --install build --prefix P` is honoured). They go to
# share/refbus/systemd/ (copy or link them into /etc/systemd/system/), and also to
# REFBUS_SYSTEMD_UNITDIR when that is set (for example -DREFBUS_SYSTEMD_UNITDIR=/lib/systemd/system
# when packaging).
set(REFBUS_SYSTEMD_UNITDIR "" CACHE PATH
    "Also install the systemd units here (empty: only share/refbus/systemd)")
set(_refbus_unitdirs "${CMAKE_INSTALL_DATADIR}/refbus/systemd")
if(REFBUS_SYSTEMD_UNITDIR)
  list(APPEND _refbus_unitdirs "${REFBUS_SYSTEMD_UNITDIR}")
endif()
install(CODE "
  foreach(_dir ${_refbus_unitdirs})
    set(_bindir \"${CMAKE_INSTALL_BINDIR}\")
    set(_docdir \"${CMAKE_INSTALL_DOCDIR}\")
    foreach(_var _dir _bindir _docdir)
      if(NOT IS_ABSOLUTE \"\${\${_var}}\")
        set(\${_var} \"\${CMAKE_INSTALL_PREFIX}/\${\${_var}}\")
      endif()
    endforeach()
    foreach(_u refbus-broker.service refbus-node@.service)
      file(READ \"${CMAKE_SOURCE_DIR}/deploy/systemd/\${_u}\" _text)
      string(REPLACE \"/usr/bin/\" \"\${_bindir}/\" _text \"\${_text}\")
      string(REPLACE \"file:/usr/share/doc/refbus/\" \"file:\${_docdir}/\" _text \"\${_text}\")
      message(STATUS \"Installing: \$ENV{DESTDIR}\${_dir}/\${_u}\")
      file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${_dir}\")
      file(WRITE \"\$ENV{DESTDIR}\${_dir}/\${_u}\" \"\${_text}\")
      list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${_dir}/\${_u}\")
    endforeach()
  endforeach()
")
