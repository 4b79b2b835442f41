# fuzz_fcm_http1: fcm-sim's HTTP/1.1 parser (sim/fcm/http1.c), alone.
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sim/fcm/http1.c)
target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sim/fcm)
