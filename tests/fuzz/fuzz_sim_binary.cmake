# fuzz_sim_binary: apns-sim's binary-gateway decoder (never the rest of sim/).
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sim/legacy/frames.c)
