# fuzz_procfs: daemon/obs/procfs.c compiled into the target (so that
# libFuzzer instruments it).
target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon/obs/procfs.c)
target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/daemon/obs)
