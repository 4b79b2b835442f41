# fuzz_http_request: the API's HTTP/1.1 parser (daemon/api/api_http.c), from
# the daemon's core library.
target_link_libraries(${name} PRIVATE apnsd_core)
