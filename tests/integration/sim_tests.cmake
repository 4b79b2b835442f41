# Integration tests that drive the real binaries against apns-sim on loopback.
# Included from tests/integration/CMakeLists.txt.

# Apple's documentation as literal tables, and the tests holding libapns and
# apns-sim to them (golden_sim, golden_lib_reasons).
include(${PROJECT_SOURCE_DIR}/tests/golden/golden.cmake)
add_library(apns_test_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/harness.c)
target_include_directories(apns_test_harness PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})

set(APNS_IT_ENV "APNS_TEST_CERTS=${APNS_TEST_CERTS};APNS_BIN_DIR=${CMAKE_BINARY_DIR}")

add_executable(sim_zero_loss ${CMAKE_CURRENT_SOURCE_DIR}/sim_zero_loss.c
                             ${CMAKE_CURRENT_SOURCE_DIR}/push_run.c)
target_link_libraries(sim_zero_loss PRIVATE apns_internal apns_test_harness)

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
# A server shutting down (--shutdown-after): streams past N answered 503
# Shutdown, then GOAWAY; libapns resends both on new connections (issue 11).
add_test(NAME it_zero_loss_shutdown
         COMMAND sim_zero_loss 20000 100 2 --expect-goaways --expect-retries
                 -- --shutdown-after 1500 --idle-timeout 0.05 --seed 13)
set_tests_properties(it_zero_loss_100k_goaway_503 it_zero_loss_resets
  it_zero_loss_unanswered_streams it_zero_loss_shrink_and_429_500 it_zero_loss_shutdown
  PROPERTIES FIXTURES_REQUIRED certs ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 600)

# Shell-driven tests: an independent client against the sim, and the CLI.
foreach(t h2load_sim cli bench_smoke)
  add_test(NAME it_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh)
  set_tests_properties(it_${t} PROPERTIES FIXTURES_REQUIRED certs
                       ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 300)
endforeach()
# The CLI on long runs (Ctrl-C with answers in flight, not_sent, --progress,
# --only, every bad token line, topic suffixes); fewer tokens under sanitizers.
set(_cli_run_small 0)
if(APNS_SANITIZE)
  set(_cli_run_small 1)
endif()
add_test(NAME it_cli_run COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_run.sh)
set_tests_properties(it_cli_run PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                     ENVIRONMENT "${APNS_IT_ENV};APNS_IT_SMALL=${_cli_run_small}")

# `apns fcm push` / `apns fcm token` against fcm-sim: bad input, a push with
# 1 % unregistered tokens judged against the delivery log, a dry run, the
# token accepted by a raw request; fewer tokens under sanitizers.
add_test(NAME it_cli_fcm COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_fcm.sh)
set_tests_properties(it_cli_fcm PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                     ENVIRONMENT "${APNS_IT_ENV};APNS_IT_SMALL=${_cli_run_small}")

# apns-sim's behavioural self-test through a third independent HTTP/2 client
# (hyper-h2, Debian python3-h2): 146 checks of validation, auth, token lists,
# the delivery log and every fault flag.
add_test(NAME it_sim_selftest
         COMMAND bash ${PROJECT_SOURCE_DIR}/sim/selftest/run.sh ${CMAKE_BINARY_DIR}/apns-sim)
set_tests_properties(it_sim_selftest PROPERTIES TIMEOUT 300)

# A TLS client offering no ALPN (asyncio + python3-h2) gets HTTP/2 with prior
# knowledge, as from APNs: 2000 notifications accepted, the 410 with its ms
# timestamp; ALPN http/1.1 only and HTTP/1.1 requests get the documented refusals.
add_test(NAME it_sim_noalpn COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/sim_noalpn.py 2000)
set_tests_properties(it_sim_noalpn PROPERTIES FIXTURES_REQUIRED certs
                     ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 120)

# Every reason string a request can earn: produced by apns-sim and surfaced by
# libapns (sim_reasons), and the ones libapns refuses to send, through an
# independent client, nghttp (reasons_raw.sh).
# Both take the expected HTTP status of a reason from tests/golden/reasons.tsv,
# never from libapns' table.
add_executable(sim_reasons ${CMAKE_CURRENT_SOURCE_DIR}/sim_reasons.c)
target_link_libraries(sim_reasons PRIVATE apns_internal apns_test_harness apns_golden)
add_test(NAME it_sim_reasons COMMAND sim_reasons)
add_test(NAME it_reasons_raw COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/reasons_raw.sh)
set_tests_properties(it_sim_reasons it_reasons_raw PROPERTIES FIXTURES_REQUIRED certs
                     ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 300)

# --- the legacy binary interface: apns-sim's gateway and feedback service ---
# Built with the legacy interface only (APNS_LEGACY).
if(APNS_LEGACY)
  # binary_sim talks raw TLS (its own OpenSSL client, frames from
  # apns_binary_encode): error packets after the discard delay, nothing after
  # a bad notification delivered, silent close for the simple format, status
  # 10 shutdowns, split and mixed frames, no feedback tuple for status-8
  # rejections, certificate auth. `binary_sim --bench N [CONNS [THREADS]]` measures the
  # gateway's throughput.
  add_library(apns_binary_test_util STATIC ${CMAKE_CURRENT_SOURCE_DIR}/binary_util.c)
  target_link_libraries(apns_binary_test_util PUBLIC apns_internal apns_test_harness)
  add_executable(binary_sim ${CMAKE_CURRENT_SOURCE_DIR}/binary_sim.c)
  target_link_libraries(binary_sim PRIVATE apns_binary_test_util)
  add_test(NAME it_binary_sim COMMAND binary_sim)
  set_tests_properties(it_binary_sim PROPERTIES FIXTURES_REQUIRED certs
                       ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 300)

  # binary_golden: every row of tests/golden/binary-feedback.tsv (token kind x
  # format -> answer bytes, connection, delivery, feedback listing) against the
  # sim's gateway and feedback service, with a raw TLS client that builds its
  # notifications byte by byte and parses tuples with feedback-tuple.tsv.
  add_executable(binary_golden ${CMAKE_CURRENT_SOURCE_DIR}/binary_golden.c)
  target_link_libraries(binary_golden PRIVATE apns_binary_test_util apns_golden)
  add_test(NAME it_binary_golden COMMAND binary_golden)
  set_tests_properties(it_binary_golden PROPERTIES FIXTURES_REQUIRED certs
                       ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 120)

  # Show the difference: the same workload (1% invalid tokens) through
  # apns_client over the simple, enhanced and frame formats against the sim's
  # binary gateway. Fails unless enhanced and frame deliver every valid
  # notification exactly once and report every invalid one, and the naive
  # simple-format provider really loses notifications. The README's founding
  # example is the 100k version: binary_formats --check (default flags).
  add_executable(binary_formats ${CMAKE_CURRENT_SOURCE_DIR}/binary_formats.c
                                ${CMAKE_CURRENT_SOURCE_DIR}/push_run.c)
  target_link_libraries(binary_formats PRIVATE apns_binary_test_util)
  add_test(NAME it_binary_formats
           COMMAND binary_formats --count 20000 --invalid-pct 1 --delay-ms 20 --connections 2 --check)
  set_tests_properties(it_binary_formats PROPERTIES FIXTURES_REQUIRED certs
                       ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 300)

  # The legacy binary interface, library side, against small TLS servers inside
  # the test programs (tests/integration/binary_test_server.c): the sent-list
  # rewind after an error packet (status 8 and 10) through apns_client, and the
  # feedback client reading tuples cut across TLS reads.
  add_executable(binary_client_test ${CMAKE_CURRENT_SOURCE_DIR}/binary_client_test.c
                                    ${CMAKE_CURRENT_SOURCE_DIR}/binary_test_server.c)
  target_link_libraries(binary_client_test PRIVATE apns_internal apns_test_harness)
  add_executable(feedback_client_test ${CMAKE_CURRENT_SOURCE_DIR}/feedback_client_test.c
                                      ${CMAKE_CURRENT_SOURCE_DIR}/binary_test_server.c)
  target_link_libraries(feedback_client_test PRIVATE apns_internal apns_test_harness)
  add_test(NAME it_binary_reject8_frame COMMAND binary_client_test reject8 frame abrupt)
  add_test(NAME it_binary_reject8_enhanced COMMAND binary_client_test reject8 enhanced graceful)
  add_test(NAME it_binary_shutdown10 COMMAND binary_client_test shutdown10)
  add_test(NAME it_binary_busy_reject COMMAND binary_client_test busy)
  add_test(NAME it_binary_many_rejects COMMAND binary_client_test many)
  add_test(NAME it_binary_refused COMMAND binary_client_test refused)
  add_test(NAME it_binary_validate COMMAND binary_client_test validate)
  add_test(NAME it_feedback_client COMMAND feedback_client_test all)
  # The feedback client through an HTTP CONNECT proxy (apns_feedback_opts.proxy,
  # the transport's tunnel) reading the tuples apns-sim's feedback service lists.
  add_executable(feedback_proxy ${CMAKE_CURRENT_SOURCE_DIR}/feedback_proxy.c)
  target_link_libraries(feedback_proxy PRIVATE apns_binary_test_util apns_test_proxy)
  add_test(NAME it_feedback_proxy COMMAND feedback_proxy)
  set_tests_properties(it_binary_reject8_frame it_binary_reject8_enhanced it_binary_shutdown10
                       it_binary_busy_reject it_binary_many_rejects it_binary_refused
                       it_binary_validate it_feedback_client it_feedback_proxy
                       PROPERTIES FIXTURES_REQUIRED certs ENVIRONMENT "${APNS_IT_ENV}" TIMEOUT 300)
endif()

# --- apnsd end to end: the real daemon, its HTTP API and apns-sim ------------
# tests/integration/gw_*.c drive the apnsd binary (a temp dir per test: config,
# SQLite queue, the sim's delivery log) and talk to its API with evhttp;
# gw_*.sh do the same with curl and jq. Each test builds its own apnsd and
# apns-sim processes on loopback ports the kernel picks.
if(TARGET apnsd)
  add_library(gw_test_util STATIC ${CMAKE_CURRENT_SOURCE_DIR}/gw_util.c
                                  ${CMAKE_CURRENT_SOURCE_DIR}/gw_work.c)
  target_include_directories(gw_test_util PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_include_directories(gw_test_util PRIVATE ${PROJECT_SOURCE_DIR}/common)
  target_link_libraries(gw_test_util PUBLIC apns_test_harness PkgConfig::LIBEVENT PkgConfig::JANSSON m)
  # The issue's numbers in every build: under ASan + UBSan gw_e2e takes about
  # 12 s, gw_crash 7 s on the 2-core machine. A slower build (valgrind, a
  # busier CI runner) can scale the workloads down with APNS_E2E_SCALE=0.2.
  set(GW_IT_ENV "${APNS_IT_ENV}")
  foreach(t gw_e2e gw_crash gw_storage)
    add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    target_link_libraries(${t} PRIVATE gw_test_util)
    add_dependencies(${t} apnsd apns-sim)
    if(TARGET apns-bench-tool) # gw_e2e --bench (bench/e2e) runs apns-bench
      add_dependencies(${t} apns-bench-tool)
    endif()
  endforeach()
  # 100k notifications over 200 requests + one 100k-token broadcast, 1%
  # unregistered, GOAWAY every 1000 streams, 2% 503s: every valid one in the
  # sim's log exactly once, every dead token registered, status and metrics.
  add_test(NAME it_gw_e2e_100k_broadcast_100k COMMAND gw_e2e)
  # The same checks with APNs closing connections the two other documented
  # ways: 503 Shutdown on every stream past the 700th of a connection, then
  # GOAWAY; GOAWAY IdleTimeout on a connection idle for 50 ms.
  add_test(NAME it_gw_e2e_shutdown_idle COMMAND gw_e2e --batch 20000 --broadcast 20000
           --sim-flag --shutdown-after --sim-flag 700 --sim-flag --idle-timeout --sim-flag 0.05)
  # The same shape (50k + a 50k broadcast), apnsd killed -9 twice in the
  # middle and restarted on its database: nothing lost, duplicates counted
  # and within the documented window, each with its first apns-id.
  add_test(NAME it_gw_crash_kill9 COMMAND gw_crash)
  # Disk full (a tmpfs filled up) and a file system that turns read-only
  # (ext4 errors=remount-ro on a loop device) under a running apnsd: 503
  # storage_unavailable naming the database, reads still served, nothing
  # accepted lost, pushes accepted again once space is freed. Needs root.
  add_test(NAME it_gw_storage_full_readonly COMMAND gw_storage)
  set_tests_properties(it_gw_e2e_100k_broadcast_100k it_gw_e2e_shutdown_idle it_gw_crash_kill9
                       it_gw_storage_full_readonly PROPERTIES
                       FIXTURES_REQUIRED certs ENVIRONMENT "${GW_IT_ENV}" TIMEOUT 300)
  if(TARGET apns-bench-tool)
    # bench/e2e's and bench/ab's path, small: raw apns-bench, then apnsd warmed
    # up off the clock (--warmup), then batches and a broadcast; every
    # notification of both accepted (apnsd's metrics) and apnsd exits cleanly.
    add_test(NAME it_gw_e2e_bench_warmup COMMAND gw_e2e --bench --raw-count 5000 --batch 5000
             --broadcast 5000 --warmup 5000)
    set_tests_properties(it_gw_e2e_bench_warmup PROPERTIES FIXTURES_REQUIRED certs
                         ENVIRONMENT "${GW_IT_ENV}" TIMEOUT 120)
  endif()
  # Android (issue 15): provider = fcm apps through apnsd to fcm-sim. 100k
  # registration tokens (10k under the sanitizers) with 1% unregistered, a
  # GOAWAY every 1000 streams, 2% 503 and 429 bursts from a project quota:
  # every valid one in fcm-sim's log exactly once, every unregistered one in
  # the registry with UNREGISTERED, one access-token request. And iOS +
  # Android tokens in ONE request body, each delivered exactly once.
  add_executable(gw_fcm ${CMAKE_CURRENT_SOURCE_DIR}/gw_fcm.c
                        ${PROJECT_SOURCE_DIR}/tests/support/nats_cluster.c)
  target_include_directories(gw_fcm PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  target_link_libraries(gw_fcm PRIVATE gw_test_util PkgConfig::LIBNATS Threads::Threads)
  add_dependencies(gw_fcm apnsd apns-sim fcm-sim)
  if(APNS_SANITIZE)
    set(GW_FCM_N 10000)
    set(GW_FCM_MIXED_N 20000)
  else()
    set(GW_FCM_N 100000)
    set(GW_FCM_MIXED_N 100000)
  endif()
  add_test(NAME it_gw_fcm_zero_loss COMMAND gw_fcm zero-loss ${GW_FCM_N})
  add_test(NAME it_gw_fcm_mixed COMMAND gw_fcm mixed ${GW_FCM_MIXED_N})
  # THIRD_PARTY_AUTH_ERROR pauses the app (docs/api.md "Android").
  add_test(NAME it_gw_fcm_third_party COMMAND gw_fcm third-party)
  # SIGHUP gives the FCM app another service account: delivery goes on.
  add_test(NAME it_gw_fcm_reload COMMAND gw_fcm reload 500)
  set_tests_properties(it_gw_fcm_zero_loss it_gw_fcm_mixed it_gw_fcm_third_party it_gw_fcm_reload
                       PROPERTIES
                       FIXTURES_REQUIRED certs ENVIRONMENT "${GW_IT_ENV}" TIMEOUT 300)
  # The fleet: 3 apnsd nodes on a 3-node nats-server cluster share ONE access
  # token (fcm-sim counts one token request for the account).
  add_test(NAME it_gw_fcm_fleet COMMAND gw_fcm fleet 6000)
  set_tests_properties(it_gw_fcm_fleet PROPERTIES FIXTURES_REQUIRED certs
                       ENVIRONMENT "${GW_IT_ENV}" TIMEOUT 300 RESOURCE_LOCK nats_fleet)
  # The fleet (docs/scaling.md): a real 3-node nats-server cluster (R3), three
  # apnsd processes with the same [queue] backend = jetstream config, one
  # apns-sim; pushes through every node's API, status and the dead-token
  # registry read through the others; the sim must see one provider token for
  # the team across the fleet. kill_apnsd: 100k in batches + a 100k broadcast,
  # one node kill -9'd mid-run -> nothing lost, duplicates within the killed
  # node's leased chunks. kill_nats: the chunk stream's leader server killed
  # mid-run -> nothing lost, pushes and delivery go on. nats_down: every
  # server killed -> 503 from every node, the nodes recover by themselves when
  # the servers return. One at a time (each runs 7 processes).
  find_package(Threads REQUIRED)
  add_executable(gw_fleet ${CMAKE_CURRENT_SOURCE_DIR}/gw_fleet.c
                          ${PROJECT_SOURCE_DIR}/tests/support/nats_cluster.c)
  target_include_directories(gw_fleet PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  target_link_libraries(gw_fleet PRIVATE gw_test_util PkgConfig::LIBNATS Threads::Threads)
  add_dependencies(gw_fleet apnsd apns-sim)
  foreach(c kill_apnsd kill_nats nats_down channels)
    add_test(NAME it_gw_fleet_${c} COMMAND gw_fleet ${c})
    set_tests_properties(it_gw_fleet_${c} PROPERTIES FIXTURES_REQUIRED certs
                         ENVIRONMENT "${GW_IT_ENV}" TIMEOUT 300 RESOURCE_LOCK nats_fleet)
  endforeach()
  # Through curl + jq (gw_lib.sh): bad requests -> the documented 4xx with a
  # JSON error naming the field, nothing queued, still serving; ?wait with
  # per-token results (Unregistered + timestamp, pending when time runs out);
  # SIGTERM drain with work in flight + restart, SIGHUP adding an API key
  # without touching connections. gw_poison: jobs the API refuses, planted
  # into the SQLite store, end failed / rejected with a reason at the next
  # start (twice), never sent, no crash loop. gw_metrics: /metrics and the
  # JSON log against docs/operations.md. gw_idempotency: Idempotency-Key and
  # apns_id replays, 422, 409, 400, per-key scope, across a kill -9.
  foreach(t gw_bad_requests gw_wait gw_signals gw_poison gw_hostile gw_metrics gw_channels
            gw_idempotency)
    add_test(NAME it_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh)
    set_tests_properties(it_${t} PROPERTIES FIXTURES_REQUIRED certs
                         ENVIRONMENT "${GW_IT_ENV}" TIMEOUT 300)
  endforeach()
  # gw_fair: scheduling fairness by order of delivery (the sim's delivery
  # log): a login code and another app's jobs behind a broadcast of 200,000
  # (20,000 under the sanitizers) go out in the first chunks.
  add_test(NAME it_gw_fair COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_fair.sh)
  set_tests_properties(it_gw_fair PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                       ENVIRONMENT "${GW_IT_ENV};APNS_IT_SMALL=${_cli_run_small}")
  # gw_rate_limit: per-API-key request rate limits by counts (20 at once,
  # burst 5 -> exactly 5 through), 429 rate_limited + Retry-After, the
  # metric, SIGHUP, --check-config errors.
  add_test(NAME it_gw_rate_limit COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_rate_limit.sh)
  set_tests_properties(it_gw_rate_limit PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
                       ENVIRONMENT "${GW_IT_ENV}")
  # gw_webhook_outbox: webhook events through the durable outbox: kill -9
  # with 10,000 pending (2,000 under the sanitizers), the receiver down, all
  # delivered after the restart; retention drops counted.
  add_test(NAME it_gw_webhook_outbox COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_webhook_outbox.sh)
  set_tests_properties(it_gw_webhook_outbox PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                       ENVIRONMENT "${GW_IT_ENV};APNS_IT_SMALL=${_cli_run_small}")
  # gw_cancel: DELETE /v1/notifications/{id} on a broadcast of 100,000 tokens
  # (20,000 under the sanitizers) at a slowed sim: deliveries stop, counts add
  # up, a restart does not resume it. gw_cancel_fleet: two jetstream nodes,
  # submit through one, cancel through the other: both stop.
  foreach(t gw_cancel gw_cancel_fleet)
    add_test(NAME it_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh)
    set_tests_properties(it_${t} PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                         ENVIRONMENT "${GW_IT_ENV};APNS_IT_SMALL=${_cli_run_small}")
  endforeach()
  # gw_idempotency_js: backend = jetstream, two nodes: an Idempotency-Key
  # (and an apns_id) replayed by node B after a kill -9 of node A, 409 from
  # a planted reservation, one delivery per token.
  add_test(NAME it_gw_idempotency_js COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_idempotency_js.sh)
  set_tests_properties(it_gw_idempotency_js PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
                       ENVIRONMENT "${GW_IT_ENV}")
  # gw_orphan_js: backend = jetstream: a request cut off before its commit
  # record (planted) is dropped after the grace time: counted in
  # apnsd_queue_orphans_total, its job 404, its token never delivered.
  add_test(NAME it_gw_orphan_js COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_orphan_js.sh)
  set_tests_properties(it_gw_orphan_js PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
                       ENVIRONMENT "${GW_IT_ENV}")
  # gw_webhook_fleet: backend = jetstream, two nodes, one killed with events
  # pending: the other delivers them (its own nats-server on a free port).
  add_test(NAME it_gw_webhook_fleet COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_webhook_fleet.sh)
  set_tests_properties(it_gw_webhook_fleet PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                       ENVIRONMENT "${GW_IT_ENV};APNS_IT_SMALL=${_cli_run_small}")
  # gw_fair_fleet: the fleet's turn order (backend = jetstream, two nodes):
  # a login code and another app's job posted behind a broadcast of 200,000
  # (60,000 under the sanitizers) go out within 20 chunks of their 202.
  add_test(NAME it_gw_fair_fleet COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_fair_fleet.sh)
  set_tests_properties(it_gw_fair_fleet PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                       ENVIRONMENT "${GW_IT_ENV};APNS_IT_SMALL=${_cli_run_small}")
  # gw_channel_publish: channel publishes (Live Activity broadcasts) through
  # apnsd: door checks, 1000 updates (200 under the sanitizers) to one
  # channel with GOAWAY every 100 streams and 5% 503s, none lost or twice,
  # ?wait, a restart keeping stored publishes.
  set(_chpub_small 0)
  if(APNS_SANITIZE)
    set(_chpub_small 1)
  endif()
  add_test(NAME it_gw_channel_publish COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_channel_publish.sh)
  set_tests_properties(it_gw_channel_publish PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 300
                       ENVIRONMENT "${GW_IT_ENV};APNS_IT_SMALL=${_chpub_small}")
  # gw_env: no INI file. The default path's message (the install's
  # APNSD_CONFDIR, as CMake's GNU install dirs give it), and apnsd configured
  # by the environment alone (APNSD_APPS) delivering through apns-sim.
  add_test(NAME it_gw_env COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/gw_env.sh)
  set_tests_properties(it_gw_env PROPERTIES FIXTURES_REQUIRED certs TIMEOUT 120
    ENVIRONMENT "${GW_IT_ENV};APNSD_TEST_DEFAULT_CONFIG=${APNSD_CONFDIR}/apnsd.ini")
endif()

# Broadcast push (issue 13): libapns' channel client and broadcast publish
# against apns-sim's manage listener and /4/broadcasts, statuses and reasons
# from tests/golden/broadcast.tsv; then 1000 publishes (200 under the
# sanitizers) with --goaway-every 100 --fail-rate 503:0.05, none lost or twice.
add_executable(sim_broadcast ${CMAKE_CURRENT_SOURCE_DIR}/sim_broadcast.c
                             ${CMAKE_CURRENT_SOURCE_DIR}/push_run.c)
target_link_libraries(sim_broadcast PRIVATE apns_internal apns_test_harness apns_golden)
add_test(NAME it_sim_broadcast COMMAND sim_broadcast)
# `apns channel` and `apns broadcast` against the sim (tests/integration/cli_broadcast.sh).
add_test(NAME it_cli_broadcast COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_broadcast.sh)
set_tests_properties(it_sim_broadcast it_cli_broadcast PROPERTIES FIXTURES_REQUIRED certs
                     ENVIRONMENT "${APNS_IT_ENV};APNS_IT_SMALL=${_cli_run_small}" TIMEOUT 300)
