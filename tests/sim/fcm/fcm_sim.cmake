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
