# The Debian package: `cpack -G DEB` in the build directory (or `cmake --build build --target
# package`) makes build/refbus_VERSION_ARCH.deb from the build already made, no second build.
# It holds what `cmake --install` installs (cmake/install.cmake) under /usr, plus the "deb"
# install component, which only the package installs: the units in /lib/systemd/system, the
# sysusers.d and tmpfiles.d files, /etc/refbus/ configs (conffiles), copyright and changelog
# (deploy/debian/). Depends come from dpkg-shlibdeps. docs/ADMIN-GUIDE.md "Debian package";
# tests/scenario/deploy/deb_test.sh builds, installs, runs, lintians and purges it.
set(_deb ${CMAKE_SOURCE_DIR}/deploy/debian)

install(FILES ${CMAKE_SOURCE_DIR}/deploy/examples/broker.conf
        DESTINATION /etc/refbus COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/examples/node.conf RENAME example.conf
        DESTINATION /etc/refbus/node COMPONENT deb EXCLUDE_FROM_ALL)
# The sources name /usr/bin and /usr/share/doc/refbus: right as they are for the package.
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/refbus-broker.service
              ${CMAKE_SOURCE_DIR}/deploy/systemd/refbus-node@.service
        DESTINATION /lib/systemd/system COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_deb}/refbus.sysusers RENAME refbus.conf
        DESTINATION lib/sysusers.d COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_deb}/refbus.tmpfiles RENAME refbus.conf
        DESTINATION lib/tmpfiles.d COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_deb}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT deb EXCLUDE_FROM_ALL)
# Debian wants the changelog gzip'ed (-n: no name or time stamp, so the package is reproducible).
install(CODE "
  set(_out \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\")
  file(MAKE_DIRECTORY \"\${_out}\")
  execute_process(COMMAND gzip -9n -c \"${_deb}/changelog\" OUTPUT_FILE \"\${_out}/changelog.gz\"
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR \"gzip changelog failed\")
  endif()
" COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME refbus)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "refbus maintainers <maintainers@refbus.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "secure referral bus for child-protection agencies")
# The synopsis above is the first line; CPack indents these lines and dots the empty one.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "A broker and one node per agency exchange signed, end-to-end encrypted
referrals over CurveZMQ; the broker never holds plaintext and keeps an
RFC 6962 Merkle audit trail in LMDB that anyone can verify.

This package holds refbus-broker, refbus-node (the agency daemon and its
JSON command line), refbus-keys (the administrators' tool) and
refbus-audit (the auditors' tool), their manual pages, the guides, example
configurations, hardened Type=notify systemd units, and the C client library
of the node's control socket for agency systems (refbus_node.h, pkg-config
refbus-node).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)        # what CMAKE_INSTALL_PREFIX is while CPack installs
set(CPACK_SET_DESTDIR ON)             # install(CODE) and the absolute /etc, /lib paths need it
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd-sysusers and systemd-tmpfiles for the postinst; mdb_copy for backups
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "lmdb-utils")
# to build an agency system against the client library (refbus-node.pc Requires: these)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS
    "pkg-config, libzmq3-dev, libjansson-dev, libsodium-dev, libprotobuf-c-dev, libinih-dev")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${_deb}/postinst ${_deb}/postrm ${_deb}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
    GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
# One package with the default component (what `cmake --install` installs) and "deb".
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified deb)
include(CPack)
