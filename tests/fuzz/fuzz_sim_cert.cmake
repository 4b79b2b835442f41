# fuzz_sim_cert: apns-sim's client-certificate reading (sim/certinfo.c).
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/sim/certinfo.c)
