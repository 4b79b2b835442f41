# Integration tests that drive the real binaries against apns-sim on loopback.
# Included from tests/integration/CMakeLists.txt.
add_library(apns_test_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/harness.c)
target_include_directories(apns_test_harness PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})

set(APNS_IT_ENV "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR}")

add_executable(sim_zero_loss ${CMAKE_CURRENT_SOURCE_DIR}/sim_zero_loss.c)
target_link_libraries(sim_zero_loss PRIVATE apns apns_test_harness)

# The foundation's acceptance test: 100k notifications, 1% unregistered,
# GOAWAY every 1000 streams, 2% 503s -> every valid one delivered exactly once.
add_test(NAME it_zero_loss_100k_goaway_503
         COMMAND sim_zero_loss 100000 100 2 --expect-goaways --expect-retries
                 -- --goaway-every 1000 --fail-rate 503:0.02 --seed 7)
# Connections reset under load, streams never answered (deadline), stream
# limit shrinking: every notification still answered once, none duplicated.
add_test(NAME it_zero_loss_resets
         COMMAND sim_zero_loss 20000 50 2 --expect-resent --allow-dups
                 -- --reset-every 3000 --seed 11)
add_test(NAME it_zero_loss_unanswered_streams
         COMMAND sim_zero_loss 5000 0 1 --expect-resent --stream-timeout 1500
                 -- --no-answer-rate 0.002 --seed 5)
add_test(NAME it_zero_loss_shrink_and_429_500
         COMMAND sim_zero_loss 20000 0 1 --expect-retries
                 -- --shrink-streams-after 2000:5 --fail-rate 429:0.01 --fail-rate 500:0.01 --seed 3)
set_tests_properties(it_zero_loss_100k_goaway_503 it_zero_loss_resets
  it_zero_loss_unanswered_streams it_zero_loss_shrink_and_429_500
  PROPERTIES FIXTURES_REQUIRED certs ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 600)

# Shell-driven tests: an independent client against the sim, and the CLI.
foreach(t h2load_sim cli)
  add_test(NAME it_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh)
  set_tests_properties(it_${t} PROPERTIES FIXTURES_REQUIRED certs
                       ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 300)
endforeach()

# apns-sim's behavioural self-test through a third independent HTTP/2 client
# (hyper-h2, Debian python3-h2): 109 checks of validation, auth, token lists,
# the delivery log and every fault flag.
add_test(NAME it_sim_selftest
         COMMAND bash ${PROJECT_SOURCE_DIR}/sim/selftest/run.sh ${CMAKE_BINARY_DIR}/apns-sim)
set_tests_properties(it_sim_selftest PROPERTIES TIMEOUT 300)

# Every reason string a request can earn: produced by apns-sim and surfaced by
# libapns (sim_reasons), and the ones libapns refuses to send, through an
# independent client, nghttp (reasons_raw.sh).
add_executable(sim_reasons ${CMAKE_CURRENT_SOURCE_DIR}/sim_reasons.c)
target_link_libraries(sim_reasons PRIVATE apns apns_test_harness)
add_test(NAME it_sim_reasons COMMAND sim_reasons)
add_test(NAME it_reasons_raw COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/reasons_raw.sh)
set_tests_properties(it_sim_reasons it_reasons_raw PROPERTIES FIXTURES_REQUIRED certs
                     ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 300)
