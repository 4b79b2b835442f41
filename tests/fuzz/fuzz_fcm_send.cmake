# fuzz_fcm_send: fcm-sim's token and send endpoints (sim/fcm/service.c and
# its verdict table), without the transport (never sim/fcm/main.c).
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sim/fcm/service.c
                               ${PROJECT_SOURCE_DIR}/sim/fcm/errors.c)
target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sim/fcm)
