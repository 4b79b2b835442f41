# tests/sim/fcm: fcm-sim with a client no one here wrote. Included from the
# top-level CMakeLists.txt (tests/golden/golden.cmake holds golden_fcm).
#   fcm_firebase_admin  npm firebase-admin (pinned; `npm ci` into the build
#                       directory) sends single messages and batches through
#                       fcm-sim (firebase_admin.sh)
#   fcm_sim_faults      the fault flags and HTTP/1.1 framing, with python3-h2
#                       and raw sockets (fcm_faults.py)
add_test(NAME fcm_firebase_admin
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/firebase_admin.sh ${CMAKE_BINARY_DIR})
set_tests_properties(fcm_firebase_admin PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 180
  ENVIRONMENT "APNS_TEST_CERTS=${APNS_TEST_CERTS}")
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/fcm_faults.py)
  add_test(NAME fcm_sim_faults COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fcm_faults.py)
  set_tests_properties(fcm_sim_faults PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
    ENVIRONMENT "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR}")
endif()

# libapns' FCM send path (apns_client, provider FCM) against fcm-sim
# (fcm_client.c): zero loss under GOAWAYs, 503s and 429 quota bursts with 1 %
# unregistered tokens (10,000 messages; 2,000 under the sanitizers), and the
# 401 refresh: expired() once, resent after a new token is put; dry runs
# (validate_only) accepted and never delivered.
if(TARGET fcm-sim)
  add_executable(fcm_client ${CMAKE_CURRENT_LIST_DIR}/fcm_client.c)
  target_compile_definitions(fcm_client PRIVATE APNS_FCM_TEST_DIR="${CMAKE_CURRENT_LIST_DIR}")
  target_link_libraries(fcm_client PRIVATE apns_internal apns_test_harness)
  add_dependencies(fcm_client fcm-sim)
  set(_fcm_client_count 10000)
  if(APNS_SANITIZE)
    set(_fcm_client_count 2000)
  endif()
  add_test(NAME fcm_client_zero_loss COMMAND fcm_client zero-loss ${_fcm_client_count})
  add_test(NAME fcm_client_refresh COMMAND fcm_client refresh)
  add_test(NAME fcm_client_dry_run COMMAND fcm_client dry-run)
  set_tests_properties(fcm_client_zero_loss fcm_client_refresh fcm_client_dry_run PROPERTIES
    FIXTURES_REQUIRED certs TIMEOUT 300
    ENVIRONMENT "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR}")
endif()
