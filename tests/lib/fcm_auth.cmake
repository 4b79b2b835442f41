# tests/lib: lib/fcm_auth.c against fcm-sim's token endpoint. Included from
# the top-level CMakeLists.txt.
#   lib_fcm_auth_sim  fcm_auth_sim.py starts fcm-sim, runs fcm_auth_driver
#                     (the library's side) and judges by fcm-sim's counters
#                     and a messages:send of its own; fewer refresh windows
#                     under the sanitizers
add_executable(fcm_auth_driver ${CMAKE_CURRENT_LIST_DIR}/fcm_auth_driver.c)
target_link_libraries(fcm_auth_driver PRIVATE apns_static)
add_dependencies(fcm_auth_driver fcm-sim)
set(_fcm_auth_small 0)
if(APNS_SANITIZE)
  set(_fcm_auth_small 1)
endif()
add_test(NAME lib_fcm_auth_sim COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fcm_auth_sim.py)
set_tests_properties(lib_fcm_auth_sim PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 180
  ENVIRONMENT "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR};FCM_AUTH_DRIVER=$<TARGET_FILE:fcm_auth_driver>;FCM_AUTH_SMALL=${_fcm_auth_small}")
