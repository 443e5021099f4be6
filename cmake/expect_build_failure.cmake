# cmake -DBUILD_DIR=<dir> -DGUARD=<target> -DTARGET=<target> -DEXPECT=<text> -P expect_build_failure.cmake
# Passes only if GUARD builds and TARGET then fails to build with EXPECT in the build output. Used by the
# layering.* tests: GUARD is a probe that shares TARGET's compile context, so the failure is the expected
# one (a missing header), not a broken setup.
foreach(v BUILD_DIR GUARD TARGET EXPECT)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "expect_build_failure: ${v} not set")
  endif()
endforeach()
set(ENV{LC_ALL} C)   # compiler diagnostics in English, so EXPECT can match

execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${GUARD}
                RESULT_VARIABLE guard_rc OUTPUT_VARIABLE guard_out ERROR_VARIABLE guard_out)
if(NOT guard_rc EQUAL 0)
  message(FATAL_ERROR "guard target ${GUARD} failed to build (rc ${guard_rc}), so the probe setup is broken:\n${guard_out}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} built, but it must not (layering not enforced):\n${out}")
endif()
string(FIND "${out}" "${EXPECT}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "${TARGET} failed (rc ${rc}) but without \"${EXPECT}\" in its output:\n${out}")
endif()
message(STATUS "${TARGET} failed as expected: \"${EXPECT}\"")
