# apns_golden: the reader of tests/golden/*.tsv for C tests (golden.h). Included
# by the top-level CMakeLists.txt before the gateway's unit tests and by
# golden.cmake; defined once.
set(APNS_GOLDEN_DIR ${PROJECT_SOURCE_DIR}/tests/golden)
if(NOT TARGET apns_golden)
  add_library(apns_golden STATIC ${APNS_GOLDEN_DIR}/golden.c)
  target_include_directories(apns_golden PUBLIC ${APNS_GOLDEN_DIR})
  target_compile_definitions(apns_golden PRIVATE APNS_GOLDEN_DIR="${APNS_GOLDEN_DIR}")
endif()
