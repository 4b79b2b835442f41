# tests/golden: Apple's documentation as literal tables (*.tsv), and the tests
# that hold libapns and apns-sim to them. Included from
# tests/integration/sim_tests.cmake. Product code never reads these tables.
# The reader library itself is golden_lib.cmake (the gateway's unit tests
# read the tables too).
include(${PROJECT_SOURCE_DIR}/tests/golden/golden_lib.cmake)

# apns-sim's own tables and verdicts (sim/apple.h, sim/legacy/frames.h, the
# validator), compiled from the simulator's sources.
add_executable(test_golden_sim ${APNS_GOLDEN_DIR}/test_golden_sim.c
               ${PROJECT_SOURCE_DIR}/sim/apple.c ${PROJECT_SOURCE_DIR}/sim/validate.c
               ${PROJECT_SOURCE_DIR}/sim/request.c ${PROJECT_SOURCE_DIR}/sim/tokenset.c
               ${PROJECT_SOURCE_DIR}/sim/legacy/frames.c)
target_include_directories(test_golden_sim PRIVATE ${PROJECT_SOURCE_DIR}/sim)
target_link_libraries(test_golden_sim PRIVATE apns_golden apns_internal)
add_test(NAME golden_sim COMMAND test_golden_sim)

# libapns' tables (APNS_REASON_MAP, push types, payload limits, header limits,
# APNS_BINARY_STATUS_MAP).
add_executable(test_golden_lib ${APNS_GOLDEN_DIR}/test_golden_lib.c)
target_link_libraries(test_golden_lib PRIVATE apns_golden apns_internal)
add_test(NAME golden_lib_reasons COMMAND test_golden_lib)

# apns-sim itself, driven through every row of conditions.tsv and
# push-types.tsv by a raw HTTP/2 client (python3-h2; golden_raw.py).
add_test(NAME golden_raw COMMAND /usr/bin/python3 ${APNS_GOLDEN_DIR}/golden_raw.py)
set_tests_properties(golden_raw PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
  ENVIRONMENT "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR}")

# apns-sim's broadcast APIs (channel management, broadcast publish) driven
# through every row of broadcast.tsv by the same raw client (golden_broadcast.py).
add_test(NAME golden_broadcast COMMAND /usr/bin/python3 ${APNS_GOLDEN_DIR}/golden_broadcast.py)
set_tests_properties(golden_broadcast PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
  ENVIRONMENT "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR}")

# fcm-sim driven through every row of fcm-errors.tsv (Google's answers, written
# from fcm-protocol.md) over HTTP/2 (python3-h2) and HTTP/1.1 (http.client).
add_test(NAME golden_fcm COMMAND /usr/bin/python3 ${APNS_GOLDEN_DIR}/fcm_golden.py)
set_tests_properties(golden_fcm PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
  ENVIRONMENT "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR}")

# fcm-sim's own tables (sim/fcm/errors.h) against fcm-errors.tsv, both ways.
add_executable(test_golden_fcm ${APNS_GOLDEN_DIR}/test_golden_fcm.c
               ${PROJECT_SOURCE_DIR}/sim/fcm/errors.c)
target_include_directories(test_golden_fcm PRIVATE ${PROJECT_SOURCE_DIR}/sim/fcm)
target_link_libraries(test_golden_fcm PRIVATE apns_golden)
add_test(NAME golden_fcm_table COMMAND test_golden_fcm)

# libapns' classification of FCM answers (apns_fcm_answer_parse, the FCM rows
# of the reason table) against the action column of fcm-errors.tsv.
add_executable(test_golden_fcm_lib ${APNS_GOLDEN_DIR}/test_golden_fcm_lib.c)
target_link_libraries(test_golden_fcm_lib PRIVATE apns_golden apns_internal)
add_test(NAME golden_fcm_lib COMMAND test_golden_fcm_lib)
