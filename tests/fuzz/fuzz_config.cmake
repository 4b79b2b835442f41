# fuzz_config: the loader's own sources and every module's key tables
# (apnsd's schema) are compiled into the target (so that libFuzzer
# instruments them) rather than linking the daemon's modules.
set(_d ${PROJECT_SOURCE_DIR}/daemon)
target_sources(${name} PRIVATE ${_d}/config/config.c ${_d}/config/config_value.c
                               ${_d}/config/config_out.c ${_d}/apnsd_keys.c
                               ${_d}/api/api_keys.c ${_d}/dispatch/dispatch_keys.c
                               ${_d}/queue/queue_keys.c ${_d}/webhook/webhook_keys.c)
target_include_directories(${name} PRIVATE ${_d} ${_d}/config ${_d}/config/internal ${_d}/api
                                           ${_d}/dispatch ${_d}/queue ${_d}/webhook)
