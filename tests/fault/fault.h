/* Fault injection for tests only (never linked into an installed program): failing allocations
 * (malloc, calloc, realloc — in refbus and in every library it calls, protobuf-c included) and
 * failing I/O (fdatasync, fsync, msync, pwrite, writev with EIO).
 *
 * Two ways to use it:
 *  - linked into a unit test (tests/CMakeLists): the test arms it with the functions below;
 *  - built as libfault.so and put in LD_PRELOAD of a real daemon: armed from the environment at
 *    start (tests/fault/README.md: REFBUS_FAULT_MALLOC, REFBUS_FAULT_IO).
 * Not for sanitizer builds (the sanitizer owns malloc): those tests are not registered there. */
#ifndef REFBUS_TESTS_FAULT_H
#define REFBUS_TESTS_FAULT_H

/* Fail `count` allocations starting with the `start`-th one counted from this call (1 = the
 * next one); count 0 = every allocation from there on. start 0 disarms. */
void refbus_fault_malloc(long start, long count);
/* How many allocations failed since the last refbus_fault_malloc(). */
long refbus_fault_malloc_failed(void);

/* The same for the I/O calls: fdatasync, fsync, msync, pwrite and writev fail with EIO. */
void refbus_fault_io(long start, long count);
long refbus_fault_io_failed(void);

#endif
