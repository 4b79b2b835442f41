# fuzz_sim_request: apns-sim's validator and what it calls (never sim/main.c).
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sim/apple.c
                               ${PROJECT_SOURCE_DIR}/sim/validate.c
                               ${PROJECT_SOURCE_DIR}/sim/bcast.c
                               ${PROJECT_SOURCE_DIR}/sim/channels.c
                               ${PROJECT_SOURCE_DIR}/sim/request.c
                               ${PROJECT_SOURCE_DIR}/sim/tokenset.c
                               ${PROJECT_SOURCE_DIR}/sim/auth.c
                               ${PROJECT_SOURCE_DIR}/sim/jwt_verify.c
                               ${PROJECT_SOURCE_DIR}/sim/keys.c)
